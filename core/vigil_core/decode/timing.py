"""Turn frame timestamps into a monotonic stream clock and sample it at the analysis rate."""

from __future__ import annotations

from collections import deque

# A file may legitimately skip ahead (motion-triggered recordings); a minute is still a glitch.
FILE_MAX_STEP_S = 60.0
# A live stream's timestamps may run ahead of the wall clock by its buffered burst, not more.
LIVE_MAX_LEAD_S = 5.0
# Consecutive bad timestamps after which the stream is taken to have restarted its timeline.
REANCHOR_AFTER = 3
MIN_STEP_S = 1e-3
DEFAULT_FPS = 25.0


class StreamClock:
    """Give every decoded frame a strictly increasing time in seconds from its timestamps.

    Timestamps (pts × time_base) are trusted while they move forward by a plausible step. A
    missing, repeated or backward timestamp advances the clock by one nominal frame interval
    (files) or by the wall-clock gap (live streams); if the stream keeps reporting timestamps on
    another timeline (a camera restarting its encoder, a reconnect), the clock follows the new
    timeline from where it is, so consumers never see time go backwards.
    """

    def __init__(self, *, live: bool, nominal_fps: float | None) -> None:
        self._live = live
        self._step_s = 1.0 / nominal_fps if nominal_fps and nominal_fps > 0 else 1.0 / DEFAULT_FPS
        self._t: float | None = None
        self._anchor_pts: float | None = None
        self._anchor_t = 0.0
        self._anchor_wall = 0.0
        self._last_wall = 0.0
        self._bad_run = 0

    @property
    def now_s(self) -> float | None:
        """Return the time of the last frame, or None before the first one."""
        return self._t

    def reset_timeline(self) -> None:
        """Forget the timestamp anchor: the next frame starts a new timeline (after a reconnect)."""
        self._anchor_pts = None
        self._bad_run = 0

    def advance(self, pts_s: float | None, wall: float) -> float:
        """Return the stream time of a frame with timestamp pts_s decoded at wall (monotonic)."""
        if self._t is None:
            self._t = pts_s if pts_s is not None else 0.0
            self._set_anchor(pts_s, self._t, wall)
            self._last_wall = wall
            return self._t
        t = self._t
        step = self._valid_step(pts_s, wall)
        if step is not None:
            new_t = max(self._anchor_t + step, t + MIN_STEP_S)
            self._set_anchor(pts_s, new_t, wall)
            self._bad_run = 0
        else:
            new_t = t + self._fallback_step(wall)
            self._bad_run += 1
            if pts_s is not None and (self._anchor_pts is None or self._bad_run >= REANCHOR_AFTER):
                self._set_anchor(pts_s, new_t, wall)
                self._bad_run = 0
        self._t = new_t
        self._last_wall = wall
        return new_t

    def _valid_step(self, pts_s: float | None, wall: float) -> float | None:
        """Return pts_s minus the anchor's timestamp when it is a plausible forward step."""
        if pts_s is None or self._anchor_pts is None:
            return None
        step = pts_s - self._anchor_pts
        if step <= 0:
            return None
        limit = (wall - self._anchor_wall) + LIVE_MAX_LEAD_S if self._live else FILE_MAX_STEP_S
        return step if step <= limit else None

    def _fallback_step(self, wall: float) -> float:
        if self._live:
            return max(wall - self._last_wall, MIN_STEP_S)
        return self._step_s

    def _set_anchor(self, pts_s: float | None, t: float, wall: float) -> None:
        if pts_s is not None:
            self._anchor_pts = pts_s
            self._anchor_t = t
            self._anchor_wall = wall


class RateSampler:
    """Pick frames on a fixed grid of stream time, e.g. every 0.2 s for 5 fps.

    The grid keeps the average rate exact for any input rate; a source slower than the target
    gets every frame, and a gap (stall, seek) restarts the grid instead of bursting to catch up.
    """

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self._period_s = 1.0 / fps
        # Timestamps of 29.97 fps or 12.5 fps streams land a hair before the grid point.
        self._tolerance_s = min(1e-3, self._period_s / 10)
        self._next_s: float | None = None

    def due(self, t_s: float) -> bool:
        """Return whether take(t_s) would analyse the frame at stream time t_s (no change)."""
        return self._next_s is None or t_s >= self._next_s - self._tolerance_s

    def take(self, t_s: float) -> bool:
        """Return whether the frame at stream time t_s should be analysed."""
        if self._next_s is not None and t_s < self._next_s - self._tolerance_s:
            return False
        due = t_s if self._next_s is None else self._next_s
        self._next_s = due + self._period_s
        if self._next_s <= t_s:
            self._next_s = t_s + self._period_s
        return True


class RateMeter:
    """Measure the input frame rate over the last few seconds of stream time."""

    def __init__(self, window: int = 50) -> None:
        self._times: deque[float] = deque(maxlen=window)

    def add(self, t_s: float) -> None:
        """Record a frame's stream time."""
        self._times.append(t_s)

    @property
    def fps(self) -> float | None:
        """Return frames per second of stream time, or None with too few frames."""
        if len(self._times) < 2:
            return None
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else None
