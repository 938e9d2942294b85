"""The MQTT broker Frigate publishes on, as the Vigil server must reach it.

Home Assistant's MQTT integration already knows the broker (address, port, login); the server
connects to it itself, so a camera can take Frigate's detections without Home Assistant in
the path. The hub's options may give the broker's address as the server sees it (an add-on
reaches Mosquitto as `core-mosquitto`, a container by its compose name).
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady

from .const import DOMAIN
from .server_config import CONF_MQTT_HOST, needs_frigate_mqtt

MQTT_DOMAIN = "mqtt"
CONF_BROKER = "broker"


async def async_frigate_broker(
    hass: HomeAssistant, entry: ConfigEntry[Any]
) -> dict[str, Any] | None:
    """Return the broker settings the server needs, or None when no camera needs them."""
    if not needs_frigate_mqtt(entry):
        return None
    mqtt_entries = hass.config_entries.async_entries(MQTT_DOMAIN)
    if not mqtt_entries:
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_unavailable")
    data = mqtt_entries[0].data
    host = str(entry.options.get(CONF_MQTT_HOST) or data.get(CONF_BROKER) or "")
    if not host:
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_unavailable")
    broker: dict[str, Any] = {"host": host, "port": int(data.get(CONF_PORT, 1883))}
    if data.get(CONF_USERNAME):
        broker["username"] = str(data[CONF_USERNAME])
        broker["password"] = str(data.get(CONF_PASSWORD) or "")
    return broker
