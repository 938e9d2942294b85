"""Tell when a camera's analysis falls behind its stream: the overload signal of the engine.

A live camera's frames wait in a one-frame slot; when analysis is slower than the stream, the
next frame replaces the waiting one and the replaced frame is counted as dropped. Over a
sliding window, the share of delivered frames dropped says how far behind the camera is: the
engine reports it per camera and raises one overload flag for all of them.
"""

from __future__ import annotations

from collections import deque
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
    def figures(self) -> LoadFigures:
        """Return the latest figures."""
        return self._figures

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
