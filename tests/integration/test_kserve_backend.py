"""The detector on a real KServe v2 server (kserve's ModelServer on 127.0.0.1) against local.

The server hosts the shared YOLOX-nano file with onnxruntime; Vigil sends it tensors over the
protocol's REST API and over its gRPC transport. Detections on frames of the shared clips must
equal the local session's; with the server stopped mid-run the detector falls back to the local
session (one log line), and goes back to the server when it returns.
"""

from __future__ import annotations

from collections.abc import Iterator
import logging
from pathlib import Path
import time

import av
import numpy as np
import pytest

from tests.support.clips import ensure_h264_mp4
from tests.support.kserve_server import KServeServer, free_port
from tests.support.shared import MODELS_DIR, media
from vigil_core.config import DetectorSpec, EngineConfig, InferenceSpec, KServeSpec
from vigil_core.engine import Engine
from vigil_core.inference.batcher import InferenceBatcher
from vigil_core.inference.detectors import ObjectDetector, OnnxDetector, build_detector
from vigil_core.inference.kserve import (
    BackendState,
    KServeClient,
    RemoteInferenceError,
    RemoteModel,
    RemoteModelMismatch,
    RemoteSession,
    backend_status,
)
from vigil_core.inference.kserve_grpc import KServeGrpcClient
from vigil_core.inference.session import SessionCache
from vigil_core.types import Detection

CLIPS = (("road_640x360.avi", 4), ("motorway_320x240.avi", 3), ("car-detection.mp4", 3))
"""Clips and how many frames of each: 16:9, 4:3 and the shared car clip's own size."""
TIMEOUT_S = 30.0
"""Per request: kserve's Python server turns a binary tensor into a Python list (slow)."""
WAIT_S = 120.0
"""Functional waits only (a busy shared machine); nothing here is timed."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KServeServer]:
    """Return the module's server (started by `kserve`, which a test needs sockets for)."""
    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    pytest.importorskip("kserve")
    log = tmp_path_factory.mktemp("kserve") / "server.log"
    server = KServeServer("yolox_nano", log=log, grpc=True)
    yield server
    server.stop()


@pytest.fixture
def kserve(socket_enabled: None, server: KServeServer) -> KServeServer:
    """Return the running server (started again if a test stopped it)."""
    return server.start()


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Decode every 10th frame of each clip, a few per clip, as RGB."""
    images: list[np.ndarray] = []
    for name, count in CLIPS:
        with av.open(str(media(name))) as container:
            decoded = (
                frame for index, frame in enumerate(container.decode(video=0)) if index % 10 == 0
            )
            images.extend(
                frame.to_ndarray(format="rgb24")
                for _, frame in zip(range(count), decoded, strict=False)
            )
    assert len({image.shape for image in images}) >= 2, "frames of several sizes"
    return images


@pytest.fixture(scope="module")
def sessions() -> SessionCache:
    return SessionCache()


def _detector(sessions: SessionCache, url: str | None = None, **remote: object) -> ObjectDetector:
    spec = (
        DetectorSpec()
        if url is None
        else DetectorSpec(
            backend="kserve",
            kserve=KServeSpec.model_validate(
                {"url": url, "retry_after_s": 0.5, "timeout_s": TIMEOUT_S, **remote}
            ),
        )
    )
    return build_detector(spec, InferenceSpec(), sessions, MODELS_DIR)


def _assert_same(remote: list[list[Detection]], local: list[list[Detection]]) -> None:
    assert len(remote) == len(local)
    assert sum(len(found) for found in local) > 0, "the frames must hold detections to compare"
    for theirs, ours in zip(remote, local, strict=True):
        assert [d.label for d in theirs] == [d.label for d in ours]
        for a, b in zip(theirs, ours, strict=True):
            assert a.class_id == b.class_id
            assert a.score == pytest.approx(b.score, abs=1e-5)
            assert (a.bbox.x1, a.bbox.y1, a.bbox.x2, a.bbox.y2) == pytest.approx(
                (b.bbox.x1, b.bbox.y1, b.bbox.x2, b.bbox.y2), abs=1e-3
            )


def test_remote_detections_equal_local(
    kserve: KServeServer, sessions: SessionCache, frames: list[np.ndarray]
) -> None:
    local = _detector(sessions)
    remote = _detector(sessions, kserve.url)
    assert isinstance(remote, OnnxDetector) and isinstance(remote.session, RemoteSession)
    expected = local.detect_batch(frames)
    # One call with every frame: consecutive frames of one size go in requests of up to 4.
    _assert_same(remote.detect_batch(frames), expected)
    status = backend_status(remote)
    assert status.state is BackendState.REMOTE
    assert status.remote_images == len(frames)
    assert status.fallback_images == 0
    assert backend_status(local).state is BackendState.LOCAL


def test_grpc_detections_equal_local(
    kserve: KServeServer, sessions: SessionCache, frames: list[np.ndarray]
) -> None:
    """The same model over the protocol's gRPC transport: raw tensors, the same detections."""
    local = _detector(sessions)
    remote = _detector(sessions, kserve.grpc_url)
    assert isinstance(remote, OnnxDetector) and isinstance(remote.session, RemoteSession)
    assert isinstance(remote.session.client, KServeGrpcClient)
    _assert_same(remote.detect_batch(frames), local.detect_batch(frames))
    status = backend_status(remote)
    assert status.state is BackendState.REMOTE
    assert (status.remote_images, status.fallback_images) == (len(frames), 0)
    assert isinstance(_detector(sessions, kserve.url).session.client, KServeClient)  # type: ignore[attr-defined]


def test_grpc_server_away_falls_back_to_the_local_session(
    socket_enabled: None, sessions: SessionCache, frames: list[np.ndarray]
) -> None:
    """A closed gRPC port on 127.0.0.1: frames run locally, and the state says which server."""
    url = f"grpc://127.0.0.1:{free_port()}"
    local = _detector(sessions)
    remote = _detector(sessions, url, timeout_s=5.0)
    status = backend_status(remote)
    assert status.state is BackendState.FALLBACK
    assert status.reason and url in status.reason
    assert status.translation_key == "inference_server_unavailable"
    busy = [frame for frame in frames if local.detect(frame)][:3]
    _assert_same(remote.detect_batch(busy), local.detect_batch(busy))
    assert backend_status(remote).fallback_images == len(busy)


def test_batcher_gathers_cameras_into_requests(
    kserve: KServeServer, sessions: SessionCache, frames: list[np.ndarray]
) -> None:
    """Frames submitted together (as several cameras do) go out in batches and come back right."""
    local = _detector(sessions)
    remote = _detector(sessions, kserve.url)
    expected = local.detect_batch(frames)
    calls: list[int] = []
    session = remote.session  # type: ignore[attr-defined]
    infer = session.client.infer

    def counting(name: str, tensor: np.ndarray, outputs: tuple[str, ...]) -> list[np.ndarray]:
        calls.append(int(tensor.shape[0]))
        return infer(name, tensor, outputs)

    session.client.infer = counting
    with InferenceBatcher(remote, workers=1, max_batch=4, max_wait_ms=200.0) as batcher:
        futures = [batcher.submit(frame) for frame in frames]
        results = [future.result(WAIT_S) for future in futures]
    _assert_same(results, expected)
    assert sum(calls) == len(frames)
    assert max(calls) > 1, f"no request carried more than one image: {calls}"


def test_server_stopped_mid_run_falls_back_then_returns(
    kserve: KServeServer,
    sessions: SessionCache,
    frames: list[np.ndarray],
    caplog: pytest.LogCaptureFixture,
) -> None:
    local = _detector(sessions)
    remote = _detector(sessions, kserve.url)
    busy = [frame for frame in frames if local.detect(frame)][:3]
    expected = local.detect_batch(busy)
    caplog.set_level(logging.INFO, logger="vigil_core.inference.kserve")

    _assert_same(remote.detect_batch(busy), expected)
    assert backend_status(remote).state is BackendState.REMOTE

    kserve.stop(kill=True)
    for _ in range(3):
        _assert_same(remote.detect_batch(busy), expected)
    status = backend_status(remote)
    assert status.state is BackendState.FALLBACK
    assert status.reason and kserve.url in status.reason
    assert status.translation_key == "inference_server_unavailable"
    assert status.fallback_images >= 9
    away = [r for r in caplog.records if "Inference server away" in r.getMessage()]
    assert len(away) == 1, "one log line per change, not one per frame"

    kserve.start()
    deadline = time.monotonic() + WAIT_S
    while backend_status(remote).state is not BackendState.REMOTE:
        assert time.monotonic() < deadline, backend_status(remote)
        _assert_same(remote.detect_batch(busy[:1]), expected[:1])
        time.sleep(0.2)
    before = backend_status(remote).remote_images
    _assert_same(remote.detect_batch(busy), expected)
    assert backend_status(remote).remote_images == before + 3
    back = [r for r in caplog.records if "answers again: running" in r.getMessage()]
    assert len(back) == 1


def test_no_fallback_fails_frames_while_the_server_is_away(
    socket_enabled: None, sessions: SessionCache, frames: list[np.ndarray]
) -> None:
    """A closed port on 127.0.0.1: with fallback none, frames fail with the server's reason."""
    url = f"http://127.0.0.1:{free_port()}"
    remote = _detector(sessions, url, fallback="none")
    status = backend_status(remote)
    assert status.state is BackendState.UNAVAILABLE
    assert status.reason and url in status.reason
    with pytest.raises(RemoteInferenceError, match="fallback is none"):
        remote.detect(frames[0])
    fallback = _detector(sessions, url)
    assert backend_status(fallback).state is BackendState.FALLBACK
    assert fallback.detect(frames[0]) == _detector(sessions).detect(frames[0])


def test_a_model_that_does_not_fit_is_refused(socket_enabled: None, sessions: SessionCache) -> None:
    """The metadata check: frames at their own aspect need a free input height and width."""
    url = f"http://127.0.0.1:{free_port()}"
    remote = _detector(sessions, url)
    session = remote.session  # type: ignore[attr-defined]
    fixed = RemoteModel("images", "FP32", (1, 3, 416, 416), ("output",))
    with pytest.raises(RemoteModelMismatch, match="variable height and width"):
        session._check(fixed)
    with pytest.raises(RemoteModelMismatch, match="input type UINT8"):
        session._check(RemoteModel("images", "UINT8", (-1, 3, -1, -1), ("output",)))
    assert session._check(RemoteModel("images", "FP32", (-1, 3, -1, -1), ("output",))) is None
    assert session._check(RemoteModel("images", "FP32", (1, 3, -1, -1), ("output",))) == 1


async def test_engine_reports_where_the_detector_runs(kserve: KServeServer, tmp_path: Path) -> None:
    """An engine on a file camera runs its frames on the server and says so in its status."""
    # Two seconds of the road (ten analysed frames) show where they ran as well as the whole
    # clip's 62 did, which took 15 s here (the Python server's tensor conversion is slow).
    clip = ensure_h264_mp4(media("road_640x360.avi"), tmp_path, seconds=2)
    config = EngineConfig.parse(
        {
            "models_dir": str(MODELS_DIR),
            "detector": {
                "backend": "kserve",
                "kserve": {"url": kserve.url, "timeout_s": TIMEOUT_S},
            },
            "cameras": [
                {
                    "id": "road",
                    "source": {"url": str(clip), "realtime": False},
                    "fps": 5,
                    "motion": {"enabled": False},
                }
            ],
        }
    )
    engine = Engine(config)
    await engine.start()
    try:
        await engine.wait_finished()
        status = engine.inference_backend()
    finally:
        await engine.stop()
    assert status.backend == "kserve"
    assert status.state is BackendState.REMOTE
    assert status.remote_images > 0
    assert status.fallback_images == 0


async def test_an_engine_without_fallback_keeps_its_cameras_running(socket_enabled: None) -> None:
    """Server away, fallback none: frames go on without detections, the camera does not stop."""
    url = f"http://127.0.0.1:{free_port()}"
    config = EngineConfig.parse(
        {
            "models_dir": str(MODELS_DIR),
            "detector": {
                "backend": "kserve",
                "kserve": {"url": url, "fallback": "none", "retry_after_s": 600},
            },
            "cameras": [
                {
                    "id": "road",
                    "source": {"url": str(media("motorway_320x240.avi")), "realtime": False},
                    "fps": 5,
                    "motion": {"enabled": False},
                }
            ],
        }
    )
    engine = Engine(config)
    await engine.start()
    try:
        await engine.wait_finished()
        status = engine.inference_backend()
        camera = engine.status("road")
    finally:
        await engine.stop()
    assert status.state is BackendState.UNAVAILABLE
    assert status.reason and url in status.reason
    assert camera.error is None
    assert camera.frames_analysed > 1
    assert camera.frames_inferred == 0


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("grpc://127.0.0.1:8001", True),
        ("grpcs://triton.example:8001", True),
        ("http://user:pw@127.0.0.1:8000/prefix", True),
        ("grpc://user@127.0.0.1:8001", False),  # gRPC carries no basic auth in its URL
        ("grpc://127.0.0.1:8001/v2", False),  # nor a path: the service's name is fixed
        ("ftp://127.0.0.1", False),
    ],
)
def test_the_server_url_names_its_transport(url: str, valid: bool) -> None:
    """http(s):// is the REST API's base, grpc(s):// the gRPC address; anything else is refused."""
    if valid:
        assert KServeSpec.model_validate({"url": url}).url == url
    else:
        with pytest.raises(ValueError, match="url"):
            KServeSpec.model_validate({"url": url})
