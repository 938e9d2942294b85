"""Tell a lost stream from a live one: no frames, frozen frames, a collapsing frame rate."""

from __future__ import annotations

from collections import deque

import numpy as np

from vigil_core.events.model import SourceState

from .conditions import StreamLossReason
from .features import Floats

FROZEN_MAX_DELTA = 1.0
"""Largest grey-level change of any coarse pixel between two 'identical' frames. Real cameras
measured 2 or more on every pair of the shared footage (sensor noise, keyframes)."""
RATE_WINDOW_S = 10.0
LOW_FPS_RATIO = 0.5
RATE_TAU_S = 120.0


class StreamWatch:
    """Follow one stream's liveness from analysed frames and the source's state changes."""

    def __init__(self, *, fps: float, frozen_s: float, low_fps_s: float) -> None:
        """Keep the configured analysis rate and the durations that make a loss."""
        self._fps = fps
        self._frozen_s = frozen_s
        self._low_fps_s = low_fps_s
        self._previous: Floats | None = None
        self._frozen_since: float | None = None
        self._times: deque[tuple[float, int]] = deque()
        self._expected_fps: float | None = None
        self._low_since: float | None = None
        self.no_frames = False
        self._seen_frames = False
        self.stream_fps: float | None = None
        self.frozen_for_s = 0.0
        self._now = 0.0

    def observe(self, t_s: float, index: int, coarse: Floats) -> None:
        """Record one analysed frame: its stream time, decoded-frame index and coarse image."""
        self._now = t_s
        self.no_frames = False
        self._seen_frames = True
        self._observe_frozen(t_s, coarse)
        self._observe_rate(t_s, index)

    def source_state(self, state: SourceState) -> None:
        """Record a change of the source's connection state.

        Only a stream that delivered frames can be lost: a camera unreachable from the start is
        the source's own offline state, not a second alarm.
        """
        if state in (SourceState.STALLED, SourceState.OFFLINE) and self._seen_frames:
            self.no_frames = True
        elif state in (SourceState.ONLINE, SourceState.ENDED):
            self.no_frames = False
        if state is SourceState.ONLINE:
            # The outage is the no-frames loss; it must not also read as a collapsed rate.
            self._times.clear()
            self._low_since = None
            self._previous = None
            self._frozen_since = None

    @property
    def expected_fps(self) -> float | None:
        """Return the rate analysis expects: the configured one, or the stream's if slower."""
        if self._expected_fps is None:
            return None
        return min(self._fps, self._expected_fps)

    def reason(self) -> StreamLossReason | None:
        """Return why the stream counts as lost now, or None."""
        if self.no_frames:
            return StreamLossReason.NO_FRAMES
        if self.frozen_for_s >= self._frozen_s:
            return StreamLossReason.FROZEN
        if self._low_since is not None and self._now - self._low_since >= self._low_fps_s:
            return StreamLossReason.LOW_FPS
        return None

    def score(self) -> float:
        """Return how far the stream is from healthy (0-1), whatever the reason."""
        if self.no_frames:
            return 1.0
        frozen = min(1.0, self.frozen_for_s / self._frozen_s)
        expected = self.expected_fps
        low = 0.0
        if expected and self.stream_fps is not None:
            low = max(0.0, min(1.0, 1.0 - self.stream_fps / expected))
        return max(frozen, low)

    def _observe_frozen(self, t_s: float, coarse: Floats) -> None:
        previous = self._previous
        self._previous = coarse
        same = (
            previous is not None
            and previous.shape == coarse.shape
            and float(np.max(np.abs(coarse - previous))) < FROZEN_MAX_DELTA
        )
        if not same:
            self._frozen_since = None
            self.frozen_for_s = 0.0
            return
        if self._frozen_since is None:
            # Frozen since the previous frame: that one already showed this picture.
            self._frozen_since = self._times[-1][0] if self._times else t_s
        self.frozen_for_s = t_s - self._frozen_since

    def _observe_rate(self, t_s: float, index: int) -> None:
        times = self._times
        dt_s = t_s - times[-1][0] if times else 0.0
        times.append((t_s, index))
        while len(times) > 2 and t_s - times[1][0] >= RATE_WINDOW_S:
            times.popleft()
        span = t_s - times[0][0]
        if span <= 0:
            return
        # Decoded-frame indexes, not analysed frames: analysis falling behind is not the stream.
        self.stream_fps = (index - times[0][1]) / span
        if span < RATE_WINDOW_S / 2:
            return
        expected = self.expected_fps
        low = expected is not None and self.stream_fps < LOW_FPS_RATIO * expected
        if low:
            if self._low_since is None:
                self._low_since = t_s
            return
        self._low_since = None
        if self._expected_fps is None:
            self._expected_fps = self.stream_fps
        else:
            alpha = min(1.0, dt_s / RATE_TAU_S)
            self._expected_fps += alpha * (self.stream_fps - self._expected_fps)
