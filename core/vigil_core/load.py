"""Tell when a camera's analysis falls behind its stream: the overload signal of the engine.

A live camera's frames wait in a one-frame slot; when analysis is slower than the stream, the
next frame replaces the waiting one and the replaced frame is counted as dropped. Over a
sliding window, the share of delivered frames dropped says how far behind the camera is: the
engine reports it per camera and raises one overload flag for all of them. How long the
recent frames took (`LatencyFigures`) is the other half of a server's load.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

WINDOW_S: Final = 10.0
"""Seconds of history the figures cover."""
OVERLOAD_ON: Final = 0.10
"""A camera is overloaded when more than this share of its delivered frames was dropped..."""
OVERLOAD_OFF: Final = 0.03
"""...and stays so until the share falls under this one (no flapping at the edge)."""
MIN_SPAN_S: Final = 2.0
"""No judgement before the window holds this much history."""


@dataclass(frozen=True, slots=True)
class LoadFigures:
    """A camera's analysis rate against its stream over the recent window."""

    analysed_fps: float
    dropped_fps: float
    overloaded: bool

    @property
    def kept_share(self) -> float:
        """Return the share of delivered frames that were analysed (1.0 when none came)."""
        delivered = self.analysed_fps + self.dropped_fps
        return self.analysed_fps / delivered if delivered > 0 else 1.0


class LoadMeter:
    """Follow one camera's analysed and dropped frame counters over a sliding window.

    `update` runs on the camera's analysis thread after each frame; `figures` on any thread.
    """

    def __init__(self, window_s: float = WINDOW_S) -> None:
        """Start with no history and not overloaded."""
        self._window_s = window_s
        self._samples: deque[tuple[float, int, int]] = deque()
        self._figures = LoadFigures(0.0, 0.0, overloaded=False)

    @property
    def measuring(self) -> bool:
        """Return whether the window spans some time yet (its rates mean something)."""
        samples = self._samples
        return len(samples) >= 2 and samples[-1][0] > samples[0][0]

    @property
    def figures(self) -> LoadFigures:
        """Return the latest figures."""
        return self._figures

    def analysed_fps_at(self, now: float) -> float:
        """Return the analysed frames per second over the window ending at `now` (any thread).

        While frames come, the figures' rate. When they stop (a file's end, a stream that
        stalls), the rate the figures keep is the last frame's; from two frame intervals
        without one, the window ends at `now` instead and the rate falls to zero over it.
        """
        samples = copied(lambda: tuple(self._samples)) or ()
        if len(samples) < 2:
            return self._figures.analysed_fps
        first_t, first_n, _ = samples[0]
        last_t, last_n, _ = samples[-1]
        if last_n == first_n or last_t <= first_t:
            return 0.0
        interval = (last_t - first_t) / (last_n - first_n)
        if now - last_t <= 2.0 * interval:
            return self._figures.analysed_fps
        start = now - self._window_s
        t0, n0 = first_t, first_n
        for t, n, _ in samples:
            if t > start:
                break
            t0, n0 = t, n
        return (last_n - n0) / (now - t0)

    def update(self, now: float, analysed: int, dropped: int) -> bool | None:
        """Record the counters at `now`; return the new overload state when it changed."""
        samples = self._samples
        samples.append((now, analysed, dropped))
        while len(samples) > 2 and now - samples[1][0] >= self._window_s:
            samples.popleft()
        t0, analysed0, dropped0 = samples[0]
        span = now - t0
        if span <= 0:
            return None
        analysed_fps = (analysed - analysed0) / span
        dropped_fps = (dropped - dropped0) / span
        delivered = analysed_fps + dropped_fps
        share = dropped_fps / delivered if delivered > 0 else 0.0
        was = self._figures.overloaded
        if span < MIN_SPAN_S:
            overloaded = was
        elif was:
            overloaded = share > OVERLOAD_OFF
        else:
            overloaded = share > OVERLOAD_ON
        self._figures = LoadFigures(analysed_fps, dropped_fps, overloaded)
        return overloaded if overloaded != was else None


def copied[T](copy: Callable[[], T]) -> T | None:
    """Return `copy()` of what another thread appends to, retried if it changed meanwhile.

    None when it changed every time.
    """
    for _ in range(3):
        try:
            return copy()
        except RuntimeError:  # a deque appended to while being copied
            continue
    return None


@dataclass(frozen=True, slots=True)
class LatencyFigures:
    """How long the recent frames of every camera took, in ms (None before any frame)."""

    inference_p50_ms: float | None
    inference_p95_ms: float | None
    """Wait for the detector per inferred frame, its queue included."""
    frame_p50_ms: float | None
    frame_p95_ms: float | None
    """From a frame's decoding to the end of its analysis."""

    @classmethod
    def of(cls, waits_s: Sequence[float], frames_s: Sequence[float]) -> LatencyFigures:
        """Return the medians and 95th percentiles of samples in seconds."""
        return cls(
            inference_p50_ms=_ms(percentile(waits_s, 50)),
            inference_p95_ms=_ms(percentile(waits_s, 95)),
            frame_p50_ms=_ms(percentile(frames_s, 50)),
            frame_p95_ms=_ms(percentile(frames_s, 95)),
        )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the q-th percentile (0-100) by linear interpolation, as numpy's default does."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000.0 * seconds, 1)
