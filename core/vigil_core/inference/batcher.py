"""Share one detector between every camera: a request queue served by a few worker threads."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
import logging
import queue
import threading
import time
from types import TracebackType
from typing import Final, Self

from vigil_core.config import InferenceSpec
from vigil_core.costs import Laps, StageCost, StageCosts, merge
from vigil_core.types import Detection, RGBImage

from .detectors import ObjectDetector

_LOGGER = logging.getLogger(__name__)


class BatcherClosed(RuntimeError):
    """The batcher was closed before this image could run."""


@dataclass(slots=True)
class _Request:
    image: RGBImage
    future: Future[list[Detection]]


_STOP: Final = object()


class InferenceBatcher:
    """Run detections for many cameras on a fixed set of worker threads.

    onnxruntime releases the GIL while a session runs, so N workers with one intra-op thread
    each keep N cores busy on one shared session: that is what pays (one model in memory, every
    camera served in the order it asked). Requests are served oldest first, and each camera
    waits for its frame's result before sending the next, so under overload every camera gets
    its turn in the queue.

    Micro-batching is off by default (max_batch 1): with max_batch above 1 and a model whose
    batch is dynamic, a worker waits up to max_wait_ms for more requests and runs them in one
    call. On a 2-core x86 CPU a dynamic-batch YOLOX-nano cost the same per image at batch 1
    and batches of 2 to 8 (8.0 against 8.5-9.1 ms, 416x256), while waiting for a batch only
    adds latency; it may pay on hardware that runs a batch in parallel. Static-batch models
    always run one image per call.
    """

    def __init__(
        self,
        detector: ObjectDetector,
        *,
        workers: int = 2,
        max_batch: int = 1,
        max_wait_ms: float = 10.0,
        name: str = "vigil-infer",
    ) -> None:
        """Start the worker threads."""
        if workers < 1 or max_batch < 1 or max_wait_ms < 0:
            raise ValueError("workers and max_batch must be at least 1, max_wait_ms at least 0")
        self.detector = detector
        native = detector.max_batch_size
        self.max_batch = max_batch if native is None else min(max_batch, native)
        self.max_wait_s = max_wait_ms / 1000.0
        self._queue: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._costs = [StageCosts() for _ in range(workers)]
        self._threads = [
            threading.Thread(target=self._work, args=(costs,), name=f"{name}-{index}", daemon=True)
            for index, costs in enumerate(self._costs)
        ]
        for thread in self._threads:
            thread.start()

    @classmethod
    def from_spec(cls, detector: ObjectDetector, inference: InferenceSpec) -> Self:
        """Build the batcher the engine's inference settings describe."""
        return cls(
            detector,
            workers=inference.workers,
            max_batch=inference.max_batch,
            max_wait_ms=inference.max_wait_ms,
        )

    def submit(self, image: RGBImage) -> Future[list[Detection]]:
        """Queue one image; the future resolves to its detections (or the detector's error)."""
        future: Future[list[Detection]] = Future()
        with self._lock:
            if self._closed:
                raise BatcherClosed("inference batcher is closed")
            self._queue.put(_Request(image, future))
        return future

    def detect(self, image: RGBImage, timeout: float | None = None) -> list[Detection]:
        """Submit one image and wait for its detections."""
        return self.submit(image).result(timeout)

    def costs(self) -> dict[str, StageCost]:
        """Return the CPU time the workers spent per stage (pre/post-processing, inference)."""
        return merge(costs.snapshot() for costs in self._costs)

    @property
    def closed(self) -> bool:
        """Return whether close() was called."""
        return self._closed

    def close(self, timeout: float | None = None) -> None:
        """Fail every queued request, let running batches finish, and join the workers."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = self._drain()
            for _ in self._threads:
                self._queue.put(_STOP)
        error = BatcherClosed("inference batcher closed before this frame was analysed")
        for request in pending:
            if request.future.set_running_or_notify_cancel():
                request.future.set_exception(error)
        for thread in self._threads:
            thread.join(timeout)
        if pending:
            _LOGGER.debug("batcher closed with %d pending requests", len(pending))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _drain(self) -> list[_Request]:
        pending: list[_Request] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return pending
            if isinstance(item, _Request):
                pending.append(item)

    def _work(self, costs: StageCosts) -> None:
        """Serve requests until a stop marker arrives."""
        laps = costs.laps()
        while True:
            item = self._queue.get()
            if not isinstance(item, _Request):
                return
            batch, stop = self._gather(item)
            laps("queue", 0)
            self._run(batch, laps)
            if stop:
                return

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """Collect up to max_batch requests, waiting at most max_wait_s after the first."""
        batch = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if not isinstance(item, _Request):
                return batch, True
            batch.append(item)
        return batch, False

    def _run(self, batch: list[_Request], laps: Laps) -> None:
        """Run one batch and resolve its futures; a cancelled request is skipped."""
        live = [request for request in batch if request.future.set_running_or_notify_cancel()]
        if not live:
            return
        laps("queue", 0)
        try:
            results = self.detector.detect_batch([request.image for request in live], laps=laps)
        except Exception as err:
            for request in live:
                request.future.set_exception(err)
            laps("queue", 0)
            return
        for request, detections in zip(live, results, strict=True):
            request.future.set_result(detections)
        laps("queue", 0)
