"""Fixtures for the Home Assistant tests: a fake engine and a blocking-call guard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
import time
from typing import Any
from unittest.mock import PropertyMock, patch

from blockbuster import BlockBuster, BlockBusterFunction, BlockingError, blockbuster_ctx
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_USERNAME
from homeassistant.core import HomeAssistant
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

import custom_components.vigil  # noqa: F401 - must come first (pytest-homeassistant pitfall 2)
from custom_components.vigil.const import (
    CONF_CAMERA,
    CONF_CLASSES,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_DOWNLOAD_MODELS,
    CONF_INERTIA,
    CONF_POLYGON,
    CONF_SOURCE_TYPE,
    DOMAIN,
    SOURCE_STREAM,
    SUBENTRY_CAMERA,
    SUBENTRY_ZONE,
)
from tests.ha.translations import check_flow_translations
from vigil_core.config import EngineConfig
from vigil_core.engine import CameraStatus
from vigil_core.events.bus import EventBus
from vigil_core.events.model import EventPhase, RuleEvent, SourceState, SourceStateEvent
from vigil_core.pipeline import AnalysedFrame
from vigil_core.privacy.retention import RetentionRegistry
from vigil_core.sources.event_source import EventSource
from vigil_core.types import BBox, Frame, Track, TrackState

ENTRY_ID = "01JVIGIL0000000000000ENTRY"
CAMERA_ID = "01JVIGIL00000000000CAMERA1"
ZONE_ID = "01JVIGIL000000000000ZONE01"
CAMERA_SLUG = CAMERA_ID.lower()
ZONE_SLUG = ZONE_ID.lower()
STREAM_URL = "rtsp://192.0.2.10:554/stream1"
ZONE_POLYGON = [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/vigil rather than the plugin's own package."""


@pytest.fixture(autouse=True)
def no_lan_discovery() -> Iterator[None]:
    """Never send a WS-Discovery probe onto the network; tests that want one set a target."""
    with patch("custom_components.vigil.onvif_flow.DISCOVERY_TARGETS", []):
        yield


@pytest.fixture(autouse=True)
def privacy_folder(tmp_path: Path) -> Iterator[Path]:
    """Keep the access log, its key and the documents in the test's own folder."""
    with patch(
        "custom_components.vigil.privacy.config_path",
        lambda _hass, *parts: tmp_path.joinpath("config", *parts),
    ):
        yield tmp_path / "config"


@pytest.fixture(autouse=True)
def flow_translations() -> Iterator[None]:
    """Fail when a flow shows a step, error, menu option or abort without a translation."""
    with check_flow_translations():
        yield


def _loop_guard(bb: BlockBuster, owner: Any, name: str) -> None:
    function = BlockBusterFunction(
        owner, name, scanned_modules=["custom_components.vigil", "vigil_core"]
    )
    bb.functions[f"{getattr(owner, '__name__', owner)}.{name}"] = function
    function.activate()


@pytest.fixture(autouse=True)
def blocking_guard() -> Iterator[list[str]]:
    """Fail when Vigil blocks the event loop: file, socket and sleep calls, decoding, inference.

    blockbuster watches the standard library's blocking calls made from Vigil's modules on the
    loop; PyAV, onnxruntime and Pillow are added because C code never reaches those hooks, and
    each would stall Home Assistant for milliseconds to seconds. Every violation is recorded as
    well as raised, because engine code may catch the error (a decoder maps any exception from
    `av.open` to SourceUnavailable): the test then fails at teardown. Yields the record.
    """
    import av  # noqa: PLC0415
    import onnxruntime  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    calls: list[str] = []
    original_init = BlockingError.__init__

    def record(self: BlockingError, func: str) -> None:
        calls.append(func)
        original_init(self, func)

    with (
        patch.object(BlockingError, "__init__", record),
        blockbuster_ctx(["custom_components.vigil", "vigil_core"]) as bb,
    ):
        # Home Assistant logs through a queue in production; pytest's handlers write directly.
        for name, function in bb.functions.items():
            if name.startswith("io.") and name.endswith(".write"):
                function.can_block_in("logging/__init__.py", "emit")
        # onvif-zeep-async checks each WSDL file exists once (lru_cache'd os.path.isfile).
        bb.functions["os.stat"].can_block_in("onvif/client.py", {"get_definition"})
        bb.functions["os.stat"].can_block_in("onvif/transport.py", {"load"})
        _loop_guard(bb, av, "open")
        _loop_guard(bb, onnxruntime.InferenceSession, "run")
        _loop_guard(bb, onnxruntime.InferenceSession, "__init__")
        _loop_guard(bb, Image.Image, "save")
        _loop_guard(bb, Image, "fromarray")
        yield calls
    if calls:
        pytest.fail(f"blocking calls on the event loop: {sorted(set(calls))}")


def fake_frame(camera_id: str = CAMERA_SLUG, width: int = 320, height: int = 180) -> AnalysedFrame:
    """Return an analysed frame: a grey picture with one person walking in."""
    image = np.full((height, width, 3), 96, dtype=np.uint8)
    track = Track(
        track_id=7,
        bbox=BBox(120.0, 60.0, 160.0, 150.0),
        label="person",
        score=0.9,
        state=TrackState.CONFIRMED,
        velocity=(0.0, 0.0),
        first_seen_s=0.0,
        last_seen_s=1.0,
        hits=5,
    )
    frame = Frame(
        camera_id=camera_id,
        index=10,
        pts_s=1.0,
        received_at=time.monotonic(),
        image=image,
        source_size=(width, height),
    )
    return AnalysedFrame(frame=frame, tracks=(track,), inferred=True)


class FakeEngine:
    """Stand in for vigil_core's Engine: a real event bus, canned frames and figures."""

    start_error: Exception | None = None

    def __init__(
        self, config: EngineConfig, *, loop: asyncio.AbstractEventLoop, **_options: object
    ) -> None:
        """Keep the configuration the integration built (and ignore host services)."""
        self.config = config
        self.bus = EventBus(loop)
        self.started = False
        self.stopped = False
        self.frames: dict[str, AnalysedFrame] = {}
        self.retention = RetentionRegistry(config.privacy.retention)
        self.event_sources: list[EventSource] = []

    @property
    def camera_ids(self) -> list[str]:
        """Return the configured cameras."""
        return [camera.id for camera in self.config.cameras]

    async def start(self) -> None:
        """Start, or fail as the test asked."""
        if self.start_error is not None:
            raise self.start_error
        self.started = True

    async def add_event_source(self, source: EventSource) -> None:
        """Start a camera-side event source on the bus, as the engine does."""
        self.event_sources.append(source)
        await source.start(self.bus.publish)

    async def stop(self) -> None:
        """Stop the event sources, then the bus."""
        self.stopped = True
        for source in self.event_sources:
            await source.stop()
        self.bus.close()

    def latest(self, camera_id: str) -> AnalysedFrame | None:
        """Return the canned frame of a camera."""
        return self.frames.get(camera_id)

    def status(self, camera_id: str) -> CameraStatus:
        """Return fixed figures for a configured camera."""
        if camera_id not in self.camera_ids:
            raise KeyError(camera_id)
        return CameraStatus(
            camera_id=camera_id,
            state=SourceState.ONLINE,
            error=None,
            analysed_fps=4.87,
            inference_ms=12.34,
            frames_analysed=120,
            frames_inferred=80,
            events=4,
        )

    # Helpers for tests.
    def source_state(
        self, camera_id: str, state: SourceState, reason: str = "", key: str | None = None
    ) -> None:
        """Publish a stream state change."""
        self.bus.publish(
            SourceStateEvent(
                camera_id=camera_id,
                state=state,
                wall_time=time.time(),
                reason=reason,
                translation_key=key,
            )
        )

    def zone_event(
        self,
        phase: EventPhase,
        *,
        camera_id: str = CAMERA_SLUG,
        rule_id: str = ZONE_SLUG,
        track_id: int = 7,
        label: str = "person",
        counts: dict[str, int] | None = None,
    ) -> None:
        """Publish a zone presence event."""
        counts = counts if counts is not None else {label: 1}
        self.bus.publish(
            RuleEvent(
                kind="zone_presence",
                camera_id=camera_id,
                rule_id=rule_id,
                track_id=track_id,
                phase=phase,
                at_s=1.0,
                frame_index=10,
                wall_time=time.time(),
                attrs={"label": label, "count": sum(counts.values()), "counts": counts},
            )
        )


@pytest.fixture
def engines() -> Generator[list[FakeEngine]]:
    """Replace the engine and the model lookup; yield the engines the integration builds."""
    built: list[FakeEngine] = []

    def build(
        config: EngineConfig, *, loop: asyncio.AbstractEventLoop, **_options: object
    ) -> FakeEngine:
        engine = FakeEngine(config, loop=loop)
        built.append(engine)
        return engine

    with (
        patch("custom_components.vigil.Engine", side_effect=build),
        patch(
            "custom_components.vigil._resolve_detector",
            return_value=Path("/models/yolox_nano.onnx"),
        ),
    ):
        yield built


def camera_subentry(
    subentry_id: str = CAMERA_ID, title: str = "Front door", url: str = STREAM_URL
) -> ConfigSubentryData:
    """Return a stream camera subentry with credentials."""
    return ConfigSubentryData(
        data={
            CONF_SOURCE_TYPE: SOURCE_STREAM,
            CONF_URL: url,
            CONF_USERNAME: "viewer",
            CONF_PASSWORD: "s3cret",
        },
        subentry_id=subentry_id,
        subentry_type=SUBENTRY_CAMERA,
        title=title,
        unique_id=url,
    )


def zone_subentry(
    subentry_id: str = ZONE_ID,
    title: str = "Driveway",
    camera: str = CAMERA_ID,
    classes: list[str] | None = None,
) -> ConfigSubentryData:
    """Return a zone subentry on the camera."""
    return ConfigSubentryData(
        data={
            CONF_CAMERA: camera,
            CONF_POLYGON: ZONE_POLYGON,
            CONF_CLASSES: classes if classes is not None else ["person", "car"],
            CONF_INERTIA: 3,
        },
        subentry_id=subentry_id,
        subentry_type=SUBENTRY_ZONE,
        title=title,
        unique_id=None,
    )


@pytest.fixture
def config_entry() -> MockConfigEntry:
    """Return a hub entry with one camera and one zone."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil",
        entry_id=ENTRY_ID,
        data={CONF_DOWNLOAD_MODELS: False, CONF_DEPLOYMENT_CONTEXT: "private_home"},
        subentries_data=[camera_subentry(), zone_subentry()],
    )


type SetupFn = Callable[[], Any]


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add and set up an entry."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Enable the entities that are disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Serialise Home Assistant objects (registry entries, states) without volatile fields."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)
