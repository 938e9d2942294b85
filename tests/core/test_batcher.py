"""The shared inference batcher: concurrency, micro-batches, errors and shutdown."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
import threading

import av
import numpy as np
import pytest
from skimage import data as skdata

from tests.support.shared import MODELS_DIR, media
from vigil_core.config import InferenceSpec
from vigil_core.costs import NO_LAPS, Laps
from vigil_core.inference.batcher import BatcherClosed, InferenceBatcher
from vigil_core.inference.detectors import YoloxDetector
from vigil_core.inference.session import SessionCache
from vigil_core.types import Detection, RGBImage


@pytest.fixture(scope="module")
def yolox() -> YoloxDetector:
    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    return YoloxDetector.load(models_dir=MODELS_DIR, sessions=SessionCache())


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Eight real frames: seven from vtest.avi and the astronaut photo."""
    frames: list[np.ndarray] = []
    with av.open(str(media("vtest.avi"))) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 100 == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
    return [*frames[:7], skdata.astronaut()]


class _Wrapped:
    """The real detector behind the ObjectDetector protocol, with hooks for the tests."""

    def __init__(self, inner: YoloxDetector, *, dynamic: bool = False) -> None:
        self.inner = inner
        self.dynamic = dynamic
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()
        self.fail: Exception | None = None
        self._lock = threading.Lock()

    @property
    def labels(self) -> tuple[str, ...]:
        return self.inner.labels

    @property
    def max_batch_size(self) -> int | None:
        return None if self.dynamic else 1

    def detect(self, image: RGBImage) -> list[Detection]:
        return self.detect_batch([image])[0]

    def detect_batch(
        self, images: Sequence[RGBImage], *, laps: Laps = NO_LAPS
    ) -> list[list[Detection]]:
        with self._lock:
            self.batches.append(len(images))
        self.started.set()
        self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        return self.inner.detect_batch(images, laps=laps)


def test_concurrent_submits_match_direct_calls(
    yolox: YoloxDetector, images: list[np.ndarray]
) -> None:
    expected = [yolox.detect(image) for image in images]
    with InferenceBatcher(yolox, workers=2, max_batch=8, max_wait_ms=5) as batcher:
        assert batcher.max_batch == 1  # static batch-1 model: one image per run

        def camera(offset: int) -> list[list[Detection]]:
            order = images[offset:] + images[:offset]
            futures = [batcher.submit(image) for image in order]
            results = [future.result(timeout=60) for future in futures]
            return results[len(images) - offset :] + results[: len(images) - offset]

        with ThreadPoolExecutor(4) as pool:
            per_camera = list(pool.map(camera, range(4)))
    for results in per_camera:
        assert results == expected
    assert batcher.closed


def test_dynamic_models_run_micro_batches(yolox: YoloxDetector, images: list[np.ndarray]) -> None:
    detector = _Wrapped(yolox, dynamic=True)
    expected = [yolox.detect(image) for image in images]
    detector.gate.clear()
    with InferenceBatcher(detector, workers=1, max_batch=4, max_wait_ms=200) as batcher:
        first = batcher.submit(images[0])
        assert detector.started.wait(10)
        # While the worker is busy, the rest queue up and leave as batches of at most 4.
        rest = [batcher.submit(image) for image in images[1:]]
        detector.gate.set()
        results = [first.result(30)] + [future.result(30) for future in rest]
    assert results == expected
    assert detector.batches == [1, 4, 3]


def test_close_fails_pending_futures(yolox: YoloxDetector, images: list[np.ndarray]) -> None:
    detector = _Wrapped(yolox)
    detector.gate.clear()
    batcher = InferenceBatcher(detector, workers=1, max_batch=8, max_wait_ms=0)
    running = batcher.submit(images[0])
    assert detector.started.wait(10)
    pending = [batcher.submit(image) for image in images[1:4]]
    closer = threading.Thread(target=batcher.close, name="test-closer")
    closer.start()
    for future in pending:
        with pytest.raises(BatcherClosed, match="closed before this frame was analysed"):
            future.result(10)
    detector.gate.set()
    closer.join(10)
    assert not closer.is_alive()
    assert running.result(10) == yolox.detect(images[0])
    with pytest.raises(BatcherClosed):
        batcher.submit(images[0])
    batcher.close()  # idempotent
    assert detector.batches == [1]


def test_detector_errors_reach_the_caller(yolox: YoloxDetector, images: list[np.ndarray]) -> None:
    detector = _Wrapped(yolox)
    detector.fail = RuntimeError("model exploded")
    with InferenceBatcher(detector, workers=2) as batcher:
        future = batcher.submit(images[0])
        with pytest.raises(RuntimeError, match="model exploded"):
            future.result(10)
        detector.fail = None
        assert batcher.detect(images[0], timeout=10) == yolox.detect(images[0])


def test_cancelled_requests_are_skipped(yolox: YoloxDetector, images: list[np.ndarray]) -> None:
    detector = _Wrapped(yolox)
    detector.gate.clear()
    with InferenceBatcher(detector, workers=1, max_wait_ms=0) as batcher:
        busy = batcher.submit(images[0])
        assert detector.started.wait(10)
        dropped = batcher.submit(images[1])
        assert dropped.cancel()
        kept = batcher.submit(images[2])
        detector.gate.set()
        assert busy.result(10) and kept.result(10) == yolox.detect(images[2])
    assert detector.batches == [1, 1]


def test_settings(yolox: YoloxDetector) -> None:
    with pytest.raises(ValueError, match="workers"):
        InferenceBatcher(yolox, workers=0)
    batcher = InferenceBatcher.from_spec(yolox, InferenceSpec(workers=3, max_wait_ms=0))
    try:
        assert len(batcher._threads) == 3
        assert batcher.max_batch == 1
    finally:
        batcher.close()
    assert not any(thread.is_alive() for thread in batcher._threads)


def test_cameras_waiting_on_the_shared_detector_are_served_in_turn(
    yolox: YoloxDetector, images: list[np.ndarray]
) -> None:
    # Under overload every camera has a frame waiting; a camera whose result came back sends
    # its next one behind the others', so no camera is served twice while another waits.
    detector = _Wrapped(yolox)
    detector.gate.clear()  # the worker holds the first frame until every camera has queued
    served: list[int] = []
    with InferenceBatcher(detector, workers=1) as batcher:
        futures = []
        for camera in [0, 1, 2, 3, 4, 0, 2]:
            future = batcher.submit(images[camera])
            future.add_done_callback(lambda _f, camera=camera: served.append(camera))
            futures.append(future)
        assert detector.started.wait(10)
        detector.gate.set()
        for future in futures:
            future.result(timeout=60)
    assert served == [0, 1, 2, 3, 4, 0, 2]
