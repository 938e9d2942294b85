"""Camera-side ONVIF analytics as the server reports them: channel, topics, entities to add.

The server runs each ONVIF camera's event channel (PullPoint or polling) and publishes an
`OnvifState` per camera: the channel's state, every entity-worthy topic the camera announced
or sent (kept in the server's data folder, so the entities exist at the next start even while
the camera is offline), which of the camera's rules are on, and its latest counts. The camera's
own events come as `RuleEvent`s with source ``onvif``.

Camera-health topics (tamper, scene change, too blurry/dark/bright) are not entities here: the
server folds them into the camera's `TamperState`, with source ``onvif``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Final

from homeassistant.core import callback
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

import vigil_protocol as vp

from .server_config import CameraInfo
from .store import VigilStore

if TYPE_CHECKING:
    from .data import VigilConfigEntry

SOURCE_ONVIF: Final = "onvif"
"""The `source` of the camera's own events."""
KIND_GENERIC: Final = "onvif_event"
"""A topic Vigil has no parser for: one event entity per topic."""

type TopicKey = tuple[str, str | None]
type Builder = Callable[[VigilStore, CameraInfo, vp.OnvifTopic], Entity | None]


def onvif_state(store: VigilStore, camera_id: str) -> vp.OnvifState | None:
    """Return an ONVIF camera's channel and topics, None for other cameras."""
    state = store.state(camera_id, None, vp.OnvifState.KIND)
    return state if isinstance(state, vp.OnvifState) else None


def topic_key(topic: vp.OnvifTopic) -> TopicKey:
    """Return what identifies a topic's entity: its kind, and the topic for unparsed ones."""
    return (topic.kind, topic.topic if topic.kind == KIND_GENERIC else None)


def find_topic(state: vp.OnvifState | None, key: TopicKey) -> vp.OnvifTopic | None:
    """Return the current value of a topic entity's topic."""
    if state is None:
        return None
    return next((topic for topic in state.topics if topic_key(topic) == key), None)


def topic_name(topic: str) -> str:
    """Return the readable part of a topic: its last segment without a namespace prefix."""
    return topic.rpartition("/")[2].rpartition(":")[2] or topic


class TopicEntities:
    """Add a platform's entities for each camera's topics now, and for new ones as they come.

    The server adds a topic to a camera's `OnvifState` when the camera announces it or sends
    a message on it; each platform builds the entities it owns (`build` returns None for the
    other platforms' topics) and adds them once.
    """

    def __init__(
        self, entry: VigilConfigEntry, add: AddConfigEntryEntitiesCallback, build: Builder
    ) -> None:
        """Remember what the platform adds and how it builds its entities."""
        self._entry = entry
        self._add = add
        self._build = build
        self._seen: dict[str, set[TopicKey]] = {}

    @callback
    def async_start(self, cameras: Iterable[CameraInfo]) -> None:
        """Add the entities of the topics known now, then follow each camera's state."""
        store = self._entry.runtime_data.store
        for camera in cameras:
            self._seen[camera.camera_id] = set()
            self._async_check(camera)
            self._entry.async_on_unload(
                store.async_subscribe(camera.camera_id, None, partial(self._async_check, camera))
            )

    @callback
    def _async_check(self, camera: CameraInfo) -> None:
        store = self._entry.runtime_data.store
        state = onvif_state(store, camera.camera_id)
        if state is None:
            return
        seen = self._seen[camera.camera_id]
        entities: list[Entity] = []
        for topic in state.topics:
            key = topic_key(topic)
            if key in seen:
                continue
            seen.add(key)
            if (entity := self._build(store, camera, topic)) is not None:
                entities.append(entity)
        if entities:
            self._add(entities, config_subentry_id=camera.subentry_id)
