"""Fixtures for the Home Assistant tests: a real Vigil server, a real stream, a blocking guard.

Every test talks to a real Vigil server (`VigilServer`, the code `vigil-analytics serve` runs)
over a real socket on 127.0.0.1, through the integration's own client. Cameras point at a real
RTSP stream (GStreamer's live test pattern, shared by the session). Tests that check how a
state or an event shows in Home Assistant publish it on the server's engine bus: it then goes
through the server's board, the protocol and the store exactly as a detection's would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
import time
from typing import Any
from unittest.mock import PropertyMock, patch

import attr
from blockbuster import BlockBuster, BlockBusterFunction, BlockingError, blockbuster_ctx
from homeassistant.config_entries import ConfigEntry, ConfigSubentryData
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_URL, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

import custom_components.vigil  # noqa: F401 - must come first (pytest-homeassistant pitfall 2)
from custom_components.vigil.const import (
    CONF_CAMERA,
    CONF_CAMERA_KEY,
    CONF_CLASSES,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_INERTIA,
    CONF_POLYGON,
    CONF_SERVER_ID,
    CONF_SOURCE_TYPE,
    CONF_TOKEN,
    DOMAIN,
    SOURCE_STREAM,
    SUBENTRY_CAMERA,
    SUBENTRY_ZONE,
)
from custom_components.vigil.validation import camera_key
from tests.ha.translations import check_flow_translations
from tests.integration.conftest import rtsp_media_dir, rtsp_server  # noqa: F401 - fixtures
from tests.support.rtsp import RtspServer, gstreamer_available
from tests.support.server_process import ServerProcess
from tests.support.shared import MODELS_DIR
from vigil_core.events.model import (
    EventPhase,
    RuleEvent,
    RuleStateEvent,
    SourceState,
    SourceStateEvent,
    VigilEvent,
)
from vigil_core.server import ServerSettings, VigilServer
import vigil_protocol as vp

ENTRY_ID = "01JVIGIL0000000000000ENTRY"
CAMERA_ID = "01JVIGIL00000000000CAMERA1"
ZONE_ID = "01JVIGIL000000000000ZONE01"
CAMERA_SLUG = CAMERA_ID.lower()
ZONE_SLUG = ZONE_ID.lower()
ZONE_POLYGON = [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]
CLOSED_URL = "rtsp://127.0.0.1:9/nothing"
"""A stream nobody serves: port 9 (discard) is closed on these machines."""


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/vigil rather than the plugin's own package."""


@pytest.fixture(autouse=True)
def flow_translations() -> Iterator[None]:
    """Fail when a flow shows a step, error, menu option or abort without a translation."""
    with check_flow_translations():
        yield


@pytest.fixture(autouse=True)
def blocking_guard() -> Iterator[list[str]]:
    """Fail when Vigil blocks the event loop: file, socket and sleep calls, decoding, inference.

    blockbuster watches the standard library's blocking calls made from Vigil's modules on the
    loop (the integration's, and the in-process server's: a server must never block its loop
    either), folder listings included; PyAV, onnxruntime and Pillow are added because C code
    never reaches those hooks, and `importlib.import_module` because a lazy import reads files
    (Home Assistant's loader, which imports platforms itself, may). Every violation is
    recorded as well as raised (code may catch the error), so the test fails at teardown.
    Yields the record.
    """
    import importlib  # noqa: PLC0415

    import av  # noqa: PLC0415
    import onnxruntime  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    calls: list[str] = []
    original_init = BlockingError.__init__

    def record(self: BlockingError, func: str) -> None:
        calls.append(func)
        original_init(self, func)

    scanned = ["custom_components.vigil", "vigil_core", "vigil_protocol"]
    with (
        patch.object(BlockingError, "__init__", record),
        blockbuster_ctx(scanned) as bb,
    ):
        # Home Assistant logs through a queue in production; pytest's handlers write directly.
        for name, function in bb.functions.items():
            if name.startswith("io.") and name.endswith(".write"):
                function.can_block_in("logging/__init__.py", "emit")
        bb.functions["os.stat"].can_block_in("onvif/client.py", {"get_definition"})
        bb.functions["os.stat"].can_block_in("onvif/transport.py", {"load"})
        for owner, name in (
            (importlib, "import_module"),
            (av, "open"),
            (onnxruntime.InferenceSession, "run"),
            (onnxruntime.InferenceSession, "__init__"),
            (Image.Image, "save"),
            (Image, "fromarray"),
        ):
            _loop_guard(bb, owner, name, scanned)
        bb.functions["importlib.import_module"].can_block_in(
            "homeassistant/loader.py",
            {"_import_platform", "_get_component"},
        )
        yield calls
    if calls:
        pytest.fail(f"blocking calls on the event loop: {sorted(set(calls))}")


def _loop_guard(bb: BlockBuster, owner: Any, name: str, scanned: list[str]) -> None:
    function = BlockBusterFunction(owner, name, scanned_modules=scanned)
    bb.functions[f"{getattr(owner, '__name__', owner)}.{name}"] = function
    function.activate()


# --- real peers ---------------------------------------------------------------------------------


@cache
def _gstreamer() -> bool:
    return gstreamer_available()


@pytest.fixture(scope="session")
def pattern_stream() -> Iterator[str]:
    """Return the URL of a live RTSP test pattern (a moving ball), shared by the session."""
    if not _gstreamer():
        pytest.skip("the GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) is missing")
    server = RtspServer(None, size=(320, 180), fps=5)
    server.start()
    yield server.url
    server.stop()


type ServerFactory = Callable[..., Awaitable[VigilServer]]


@pytest.fixture
async def start_server(tmp_path: Path, socket_enabled: None) -> AsyncIterator[ServerFactory]:
    """Return a factory of real Vigil servers on 127.0.0.1; stop them after the test."""
    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    servers: list[VigilServer] = []

    async def start(data: Path | None = None, **options: Any) -> VigilServer:
        settings = ServerSettings(
            data_dir=data or tmp_path / f"server{len(servers)}",
            port=options.pop("port", 0),
            zeroconf=False,
            models_dir=options.pop("models_dir", MODELS_DIR),
            name=options.pop("name", "Vigil test server"),
            **options,
        )
        server = VigilServer(settings)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


type ProcessFactory = Callable[..., Awaitable[ServerProcess]]


@pytest.fixture
async def serve(
    hass: HomeAssistant, tmp_path: Path, socket_enabled: None
) -> AsyncIterator[ProcessFactory]:
    """Return a factory of `vigil-analytics serve` subprocesses; stop them after the test.

    For the end-to-end journeys: the server runs in its own process, exactly as a user, the
    container or the add-on runs it (`--port 0 --no-zeroconf`, the shared models folder).
    `serve(*extra_args)` starts one and waits for its "listening" line (`cpus="0"` pins it to
    a core, as a container's CPU set does).
    """
    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    processes: list[ServerProcess] = []

    async def start(
        *args: str, name: str = "Vigil test server", cpus: str | None = None
    ) -> ServerProcess:
        process = ServerProcess(
            tmp_path / f"serve{len(processes)}", MODELS_DIR, name=name, extra_args=args,
            cpus=cpus,
        )  # fmt: skip
        processes.append(process)
        await hass.async_add_executor_job(process.start)
        return process

    yield start
    for process in processes:
        await hass.async_add_executor_job(process.stop)


def process_data(process: ServerProcess, context: str = "private_home") -> dict[str, Any]:
    """Return a server entry's data for a server running as a subprocess."""
    return {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: process.port,
        CONF_TOKEN: process.token,
        CONF_SERVER_ID: process.server_id,
        CONF_DEPLOYMENT_CONTEXT: context,
    }


@pytest.fixture
async def vigil_server(start_server: ServerFactory) -> VigilServer:
    """Return one running Vigil server."""
    return await start_server()


def server_data(server: VigilServer, context: str = "private_home") -> dict[str, Any]:
    """Return a server entry's data for a running server."""
    return {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: server.port,
        CONF_TOKEN: server.token,
        CONF_SERVER_ID: server.server_id,
        CONF_DEPLOYMENT_CONTEXT: context,
    }


def camera_subentry(
    url: str, subentry_id: str = CAMERA_ID, title: str = "Front door"
) -> ConfigSubentryData:
    """Return a stream camera subentry."""
    return ConfigSubentryData(
        data={CONF_SOURCE_TYPE: SOURCE_STREAM, CONF_URL: url, CONF_USERNAME: "", CONF_PASSWORD: ""},
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
def config_entry(vigil_server: VigilServer, pattern_stream: str) -> MockConfigEntry:
    """Return a server entry with one camera (the live test pattern) and one zone."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil test server",
        entry_id=ENTRY_ID,
        version=2,
        unique_id=vigil_server.server_id,
        data=server_data(vigil_server),
        subentries_data=[camera_subentry(pattern_stream), zone_subentry()],
    )


def camera_uid(entry: ConfigEntry[Any], subentry_id: str = CAMERA_ID) -> str:
    """Return what a camera's device and entities are keyed on: server id and camera key.

    The key is the digest of the camera's identity (its subentry's unique id), so the same
    camera deleted and added again gets the same ids; a second camera on the same stream (as
    some tests make, which the flows refuse) gets the next free one.
    """
    camera = entry.subentries[subentry_id]
    assert entry.unique_id and camera.unique_id
    key = camera.data[CONF_CAMERA_KEY]
    assert key in {camera_key(camera.unique_id), camera_key(f"{camera.unique_id}#2")}
    return f"{entry.unique_id}_{key}"


def camera_uid_of(
    hass: HomeAssistant, camera_id: str = CAMERA_SLUG, entry_id: str = ENTRY_ID
) -> str:
    """Return `camera_uid` of a loaded entry's camera, named by its server id."""
    entry = hass.config_entries.async_get_entry(entry_id)
    assert entry is not None
    return camera_uid(entry, next(s for s in entry.subentries if s.lower() == camera_id))


def stable_ids(entry: ConfigEntry[Any], registry_entry: er.RegistryEntry) -> er.RegistryEntry:
    """Return a registry entry with `<camera>` for its camera's part of its unique id.

    That part holds the server's id and the digest of the stream's address, which change with
    each run (a new server, a stream on another port): snapshots keep the rest.
    """
    cameras = [sub for sub in entry.subentries.values() if sub.data.get(CONF_CAMERA_KEY)]
    unique_id = registry_entry.unique_id
    for camera in cameras:
        unique_id = unique_id.replace(camera_uid(entry, camera.subentry_id), "<camera>")
    return attr.evolve(registry_entry, unique_id=unique_id)


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add and set up an entry."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def wait_until(
    hass: HomeAssistant, condition: Callable[[], bool], what: str, limit_s: float = 60.0
) -> None:
    """Let the loop run until `condition` holds (generous limit: the machine may be busy)."""
    import asyncio  # noqa: PLC0415

    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {limit_s} s waiting for {what}")
        await asyncio.sleep(0.05)
    await hass.async_block_till_done()


# --- putting states and events through the real server --------------------------------------


def publish(server: VigilServer, event: VigilEvent) -> None:
    """Publish an event on the server's engine bus, as a pipeline or a source would."""
    assert server.engine is not None
    server.engine.bus.publish(event)


def stream_state(
    server: VigilServer,
    state: SourceState,
    *,
    camera_id: str = CAMERA_SLUG,
    reason: str = "",
    key: str | None = None,
    wall_time: float | None = None,
) -> None:
    """Publish a camera's stream state (`wall_time`: when it changed, now by default)."""
    publish(
        server,
        SourceStateEvent(
            camera_id=camera_id, state=state, wall_time=wall_time or time.time(), reason=reason,
            translation_key=key,
        ),
    )  # fmt: skip


def rule_state(
    server: VigilServer,
    state: vp.StateValue,
    *,
    camera_id: str = CAMERA_SLUG,
    rule_id: str = ZONE_SLUG,
) -> None:
    """Publish a rule's state, as its pipeline does after a frame."""
    publish(server, RuleStateEvent(camera_id=camera_id, rule_id=rule_id, state=state))


def rule_event(
    server: VigilServer,
    kind: str,
    phase: EventPhase,
    *,
    camera_id: str = CAMERA_SLUG,
    rule_id: str = ZONE_SLUG,
    track_id: int | None = 7,
    source: str = "vigil",
    **attrs: Any,
) -> None:
    """Publish a rule's event, as its pipeline does."""
    now = time.time()
    publish(
        server,
        RuleEvent(
            kind=kind, camera_id=camera_id, rule_id=rule_id, track_id=track_id, phase=phase,
            at_s=1.0, frame_index=10, wall_time=now, source=source, attrs=attrs,
        ),
    )  # fmt: skip


@contextmanager
def camera_settings(**settings: Any) -> Iterator[None]:
    """Add settings to every camera of the configuration entries send to their server.

    For settings no form sets yet, such as `tamper` (the health checks): a test's camera on
    the live test pattern runs them with `tamper={"start_s": 600}`, because the pattern's
    black background reads as an obstruction after a few seconds.
    """
    import custom_components.vigil as vigil  # noqa: PLC0415

    original = vigil.server_config

    def build(entry: Any, mqtt: Any = None) -> dict[str, Any]:
        config = original(entry, mqtt)
        for camera in config["cameras"]:
            camera.update(settings)
        return config

    with patch("custom_components.vigil.server_config", build):
        yield


QUIET_HEALTH: dict[str, Any] = {"tamper": {"start_s": 600.0}}
"""Health checks that never raise a view condition during a test (see `camera_settings`)."""


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
