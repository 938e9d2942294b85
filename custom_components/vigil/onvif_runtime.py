"""Camera-side ONVIF events in Home Assistant: sources, announced topics, state, reauth.

For every ONVIF camera the engine runs an ``OnvifEventSource`` (added with
``Engine.add_event_source``, so the engine stops it). This module keeps what Home Assistant needs
around it: the topics each camera announced or sent (stored, so its entities exist at the next
start even while the camera is offline), the merged state per kind of topic, the channel status
that makes the entities available, and the reauthentication flow a refused login starts.

Camera-health topics (tamper, scene change, too blurry/dark/bright) are not entities here: they
reach Vigil's own tamper entities on the bus (``vigil_core.health``), with ``source`` ``onvif``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import logging
from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.storage import Store

from vigil_core.events.model import (
    AttrValue,
    EventPhase,
    RuleEvent,
    SourceStateEvent,
    VigilEvent,
)
from vigil_core.sources.onvif_events import (
    EventChannelState,
    EventChannelStatus,
    OnvifEventSettings,
    OnvifEventSource,
)
from vigil_core.sources.onvif_states import SOURCE_ONVIF
from vigil_core.sources.onvif_topics import HEALTH_KINDS, PARSERS, OnvifKind

from .const import CONF_SOURCE_TYPE, DOMAIN, SOURCE_STREAM
from .const import SOURCE_ONVIF as SOURCE_TYPE_ONVIF

if TYPE_CHECKING:
    from vigil_core.engine import Engine

    from .engine_config import CameraInfo

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION: Final = 1
CONF_REAUTH_SUBENTRY: Final = "camera_subentry_id"
"""Reauth flow data: the camera subentry whose credentials were refused."""
# Cameras whose credentials Vigil can check again in a reauthentication flow.
REAUTH_SOURCE_TYPES: Final = frozenset({SOURCE_TYPE_ONVIF, SOURCE_STREAM})
EVENT_SETTINGS = OnvifEventSettings()


def onvif_signal(entry_id: str, camera_id: str) -> str:
    """Return the dispatcher signal of a camera's ONVIF events and channel status."""
    return f"{DOMAIN}_{entry_id}_{camera_id}_onvif"


def new_entities_signal(entry_id: str) -> str:
    """Return the dispatcher signal that a camera needs entities for new topics."""
    return f"{DOMAIN}_{entry_id}_onvif_new"


@dataclass(frozen=True, slots=True)
class TopicEntity:
    """One entity a camera's topics call for: a kind, or one generic topic."""

    kind: str
    topic: str | None = None


def topic_entities(topics: set[str]) -> set[TopicEntity]:
    """Return the entities these topics need (health kinds feed Vigil's tamper entities)."""
    wanted: set[TopicEntity] = set()
    for topic in topics:
        for kind in PARSERS.kinds_of(topic):
            if kind == OnvifKind.GENERIC:
                wanted.add(TopicEntity(kind, topic))
            elif kind not in HEALTH_KINDS:
                wanted.add(TopicEntity(kind))
    return wanted


@dataclass(slots=True)
class OnvifCameraEvents:
    """One ONVIF camera's event channel as the entities see it."""

    camera: CameraInfo
    topics: set[str] = field(default_factory=set)
    status: EventChannelStatus = field(
        default_factory=lambda: EventChannelStatus(EventChannelState.CONNECTING)
    )
    active: dict[str, dict[str, Mapping[str, AttrValue]]] = field(default_factory=dict)
    """Per kind, the attributes of each rule that is on, by rule instance."""
    counts: dict[str, int] = field(default_factory=dict)
    """Latest count per counting rule (by the camera's rule name)."""
    entities: set[TopicEntity] = field(default_factory=set)

    @property
    def available(self) -> bool:
        """Return whether the camera's events are flowing."""
        return self.status.online

    def is_on(self, kind: str) -> bool:
        """Return whether any rule of this kind is on."""
        return bool(self.active.get(kind))

    def apply(self, event: RuleEvent) -> None:
        """Fold a camera event into the state the entities show."""
        attrs = dict(event.attrs)
        instance = str(attrs.get("instance", event.rule_id))
        if event.phase is EventPhase.STARTED:
            self.active.setdefault(event.kind, {})[instance] = attrs
        elif event.phase is EventPhase.ENDED:
            self.active.get(event.kind, {}).pop(instance, None)
        elif event.kind == OnvifKind.COUNT and isinstance(attrs.get("count"), int):
            count = attrs["count"]
            assert isinstance(count, int)
            self.counts[str(attrs.get("rule", instance))] = count


class OnvifRuntime:
    """Run the ONVIF event channels of an entry's cameras and keep their topics."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry[Any], cameras: Mapping[str, CameraInfo]
    ) -> None:
        """Prepare a channel for every ONVIF camera; nothing connects before `async_start`."""
        self.hass = hass
        self.entry = entry
        self.all_cameras = dict(cameras)
        self.cameras = {
            camera_id: OnvifCameraEvents(camera)
            for camera_id, camera in cameras.items()
            if camera.source_type == SOURCE_TYPE_ONVIF
        }
        self._store: Store[dict[str, list[str]]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.onvif_topics.{entry.entry_id}"
        )
        self._unsubscribe: list[Callable[[], None]] = []

    async def async_listen(self, engine: Engine) -> None:
        """Load the stored topics and follow the engine's events (before it starts)."""
        stored = await self._store.async_load() or {}
        for camera_id, state in self.cameras.items():
            state.topics = set(stored.get(camera_id, []))
            state.entities = topic_entities(state.topics)
        self._unsubscribe.append(engine.bus.subscribe(self._async_on_event))

    async def async_start(self, engine: Engine) -> None:
        """Start an event source per ONVIF camera; the engine stops them with itself."""
        for camera_id, state in self.cameras.items():
            data = self.entry.subentries[state.camera.subentry_id].data
            await engine.add_event_source(
                OnvifEventSource(
                    camera_id=camera_id,
                    host=str(data[CONF_HOST]),
                    port=int(data[CONF_PORT]),
                    username=str(data.get(CONF_USERNAME) or ""),
                    password=str(data.get(CONF_PASSWORD) or ""),
                    settings=EVENT_SETTINGS,
                    on_status=self._status_callback(camera_id),
                    on_topics=self._topics_callback(camera_id),
                )
            )

    @callback
    def async_stop(self) -> None:
        """Stop listening to the engine (the engine stops the sources)."""
        while self._unsubscribe:
            self._unsubscribe.pop()()

    def _status_callback(self, camera_id: str) -> Callable[[EventChannelStatus], None]:
        @callback
        def on_status(status: EventChannelStatus) -> None:
            state = self.cameras[camera_id]
            state.status = status
            if status.state is EventChannelState.AUTH_FAILED:
                self._async_start_reauth(state.camera)
            async_dispatcher_send(self.hass, onvif_signal(self.entry.entry_id, camera_id), None)

        return on_status

    def _topics_callback(self, camera_id: str) -> Callable[[tuple[str, ...]], None]:
        @callback
        def on_topics(topics: tuple[str, ...]) -> None:
            self._async_add_topics(camera_id, topics)

        return on_topics

    @callback
    def _async_on_event(self, event: VigilEvent) -> None:
        """Route camera events to their camera; start reauth when a stream refuses the login."""
        if isinstance(event, SourceStateEvent):
            camera = self.all_cameras.get(event.camera_id)
            if camera is not None and event.translation_key == "invalid_auth":
                self._async_start_reauth(camera)
            return
        if not isinstance(event, RuleEvent) or event.source != SOURCE_ONVIF:
            return
        state = self.cameras.get(event.camera_id)
        if state is None:
            return
        topic = event.attrs.get("topic")
        if isinstance(topic, str) and topic not in state.topics:
            # A topic the camera never announced still gets its entity.
            self._async_add_topics(event.camera_id, (topic,))
        state.apply(event)
        async_dispatcher_send(self.hass, onvif_signal(self.entry.entry_id, event.camera_id), event)

    @callback
    def _async_add_topics(self, camera_id: str, topics: tuple[str, ...]) -> None:
        """Remember new topics, store them, and ask the platforms for their entities."""
        state = self.cameras[camera_id]
        new = set(topics) - state.topics
        if not new:
            return
        state.topics |= new
        wanted = topic_entities(state.topics) - state.entities
        state.entities |= wanted
        self.hass.async_create_task(self._store.async_save(self._stored()), eager_start=False)
        if wanted:
            async_dispatcher_send(
                self.hass, new_entities_signal(self.entry.entry_id), camera_id, wanted
            )

    def health_reports(self, camera_id: str) -> set[str]:
        """Return the camera-health reports (``tamper``, ``too_dark``…) a camera announces."""
        state = self.cameras.get(camera_id)
        topics = state.topics if state is not None else set()
        return {
            kind for topic in topics for kind in PARSERS.kinds_of(topic) if kind in HEALTH_KINDS
        }

    def diagnostics(self, camera_id: str) -> dict[str, Any]:
        """Return a camera's event channel for diagnostics, its address blanked out."""
        state = self.cameras[camera_id]
        host = str(self.entry.subentries[state.camera.subentry_id].data.get(CONF_HOST, ""))
        reason = state.status.reason.replace(host, "**REDACTED**") if host else state.status.reason
        return {
            "state": state.status.state.value,
            "reason": reason,
            "topics": sorted(state.topics),
            "active": {kind: sorted(rules) for kind, rules in state.active.items() if rules},
            "counts": dict(state.counts),
        }

    def _stored(self) -> dict[str, list[str]]:
        return {camera_id: sorted(state.topics) for camera_id, state in self.cameras.items()}

    @callback
    def _async_start_reauth(self, camera: CameraInfo) -> None:
        """Ask the user for the camera's credentials again (one flow at a time per entry)."""
        subentry = self.entry.subentries.get(camera.subentry_id)
        if subentry is None or subentry.data.get(CONF_SOURCE_TYPE) not in REAUTH_SOURCE_TYPES:
            return
        if any(self.entry.async_get_active_flows(self.hass, {SOURCE_REAUTH})):
            return
        _LOGGER.info("Camera %s refuses Vigil's login; asking for its credentials", camera.name)
        self.entry.async_start_reauth(self.hass, data={CONF_REAUTH_SUBENTRY: camera.subentry_id})
