"""Home Assistant MQTT discovery for the published states (`serve --mqtt-discovery`, off).

For users who run no Vigil integration (the Frigate-over-MQTT habit): each state topic gets
the sensors and binary sensors that read it, announced under Home Assistant's discovery
prefix. Their unique ids are not the integration's, so a Home Assistant that runs the Vigil
integration as well would show every entity twice: leave discovery off there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import re
from typing import Any, Final

from vigil_protocol import JsonValue, StateUpdate

DEFAULT_DISCOVERY_PREFIX: Final = "homeassistant"
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")

_ON_OFF = "{{{{ 'ON' if {} else 'OFF' }}}}"
_COUNT = "{{ value_json.counts.values() | sum }}"


@dataclass(frozen=True, slots=True)
class _Entity:
    """One entity reading a state topic."""

    component: str
    key: str
    name: str
    template: str
    extra: Mapping[str, JsonValue] = field(default_factory=dict)


def _binary(key: str, name: str, test: str, **extra: JsonValue) -> _Entity:
    return _Entity("binary_sensor", key, name, _ON_OFF.format(test), extra)


def _sensor(
    key: str, name: str, extra: Mapping[str, JsonValue], template: str | None = None
) -> _Entity:
    return _Entity("sensor", key, name, template or f"{{{{ value_json.{key} }}}}", extra)


_DIAGNOSTIC: Final[dict[str, JsonValue]] = {"entity_category": "diagnostic"}
_FPS: Final[dict[str, JsonValue]] = {
    "unit_of_measurement": "fps", "state_class": "measurement", **_DIAGNOSTIC,
}  # fmt: skip
_TOTAL: Final[dict[str, JsonValue]] = {"state_class": "total_increasing"}
_NOW: Final[dict[str, JsonValue]] = {"state_class": "measurement"}

ENTITIES: Final[dict[str, tuple[_Entity, ...]]] = {
    "server": (
        _sensor("cameras_online", "Cameras online", _NOW),
        _sensor("analysed_fps", "Analysed frames per second", _FPS),
        _sensor("cpu_percent", "CPU", {"unit_of_measurement": "%", **_NOW, **_DIAGNOSTIC}),
        _binary("overloaded", "Overloaded", "value_json.overloaded", device_class="problem"),
    ),
    "camera": (
        _binary("online", "Stream", "value_json.stream == 'online'", device_class="connectivity"),
        _sensor("analysed_fps", "Analysed frames per second", _FPS),
    ),
    "tamper": (
        _binary(
            "tamper",
            "Camera tampering",
            "value_json.conditions | selectattr('active') | list | count > 0",
            device_class="tamper",
        ),
    ),
    "plates": (_sensor("passages_today", "Plate passages today", _NOW),),
    "zone": (
        _binary(
            "occupied",
            "Occupied",
            "(value_json.counts.values() | sum) > 0",
            device_class="occupancy",
        ),
        _sensor("count", "Count", _NOW, _COUNT),
    ),
    "line": (
        _sensor("a_to_b", "Crossings A to B", _TOTAL),
        _sensor("b_to_a", "Crossings B to A", _TOTAL),
    ),
    "loitering": (_binary("loitering", "Loitering", "value_json.loitering"),),
    "crowd": (
        _sensor("count", "Count", _NOW),
        _binary("over_threshold", "Crowded", "value_json.over_threshold"),
    ),
    "fast_move": (_binary("active", "Fast movement", "value_json.active", device_class="motion"),),
    "wrong_way": (_binary("active", "Wrong way", "value_json.active"),),
    "object_left": (_binary("active", "Object left", "value_json.active"),),
    "route": (_sensor("completed", "Routes completed", _TOTAL),),
}
"""What each state kind shows as (ONVIF channels are left to the integration)."""


@dataclass(frozen=True, slots=True)
class Discovery:
    """The discovery messages of one server's states."""

    prefix: str
    server_id: str
    server_name: str
    version: str
    availability_topic: str

    def messages(self, update: StateUpdate, state_topic: str) -> list[tuple[str, dict[str, Any]]]:
        """Return (config topic, config) for each entity reading one state topic."""
        kind = update.state.KIND
        found = []
        for entity in ENTITIES.get(kind, ()):
            parts = [update.camera_id or "server", update.rule_id or kind, entity.key]
            object_id = _id("_".join(parts))
            node = f"vigil_{_id(self.server_id)}"
            topic = f"{self.prefix}/{entity.component}/{node}/{object_id}/config"
            name = f"{update.rule_id} {entity.name.lower()}" if update.rule_id else entity.name
            config: dict[str, Any] = {
                "name": name,
                "unique_id": f"vigil_mqtt_{_id(self.server_id)}_{object_id}",
                "state_topic": state_topic,
                "value_template": entity.template,
                "availability_topic": self.availability_topic,
                "device": self._device(update.camera_id),
                "origin": {"name": "Vigil", "sw_version": self.version},
                **entity.extra,
            }
            found.append((topic, config))
        return found

    def _device(self, camera_id: str | None) -> dict[str, Any]:
        hub = f"vigil_{self.server_id}"
        if camera_id is None:
            return {
                "identifiers": [hub],
                "name": self.server_name,
                "manufacturer": "Vigil",
                "model": "Vigil server",
                "sw_version": self.version,
            }
        return {
            "identifiers": [f"{hub}_{camera_id}"],
            "name": camera_id,
            "manufacturer": "Vigil",
            "model": "Camera analysed by Vigil",
            "via_device": hub,
        }


def _id(text: str) -> str:
    return _ID_UNSAFE.sub("_", text)
