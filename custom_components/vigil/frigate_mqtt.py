"""Carry Frigate's MQTT messages to the engine through Home Assistant's MQTT integration.

Home Assistant already holds the broker connection (and reconnects and subscribes again by
itself), so Vigil opens none: this transport subscribes through it and hands each payload to
the engine's Frigate router, on the event loop; the router only parses and queues.
"""

from __future__ import annotations

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from vigil_core.sources.frigate_mqtt import MessageCallback, Unsubscribe


class HomeAssistantMqtt:
    """The engine's MQTT transport over Home Assistant's MQTT integration."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Follow the broker connection from now on."""
        self.hass = hass
        self._connected = mqtt.is_connected(hass)
        self._unsubscribe: list[CALLBACK_TYPE] = [
            mqtt.async_subscribe_connection_status(hass, self._async_connection)
        ]

    @property
    def connected(self) -> bool:
        """Return whether Home Assistant is connected to the broker."""
        return self._connected

    @callback
    def _async_connection(self, connected: bool) -> None:
        self._connected = connected

    async def subscribe(self, topic: str, on_message: MessageCallback) -> Unsubscribe:
        """Subscribe to one topic; payloads arrive as bytes, on the loop."""

        @callback
        def _async_message(message: mqtt.ReceiveMessage) -> None:
            payload = message.payload
            on_message(
                message.topic, payload.encode() if isinstance(payload, str) else bytes(payload)
            )

        unsubscribe = await mqtt.async_subscribe(
            self.hass, topic, _async_message, qos=0, encoding=None
        )
        self._unsubscribe.append(unsubscribe)

        def remove() -> None:
            if unsubscribe in self._unsubscribe:
                self._unsubscribe.remove(unsubscribe)
                unsubscribe()

        return remove

    async def close(self) -> None:
        """Drop every subscription (Home Assistant keeps its connection)."""
        while self._unsubscribe:
            self._unsubscribe.pop()()
