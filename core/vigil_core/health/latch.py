"""Turn a per-frame score into a binary condition with persistence and hysteresis."""

from __future__ import annotations

from dataclasses import dataclass

from vigil_core.events.model import EventPhase


@dataclass(frozen=True, slots=True)
class Transition:
    """A condition started or ended on this frame."""

    phase: EventPhase
    score: float
    """The score on the frame that completed the transition."""
    peak: float
    """The highest score while pending or active."""
    since_s: float
    """Stream time the score first crossed the start level (ENDED: of the episode that ends)."""


class ConditionLatch:
    """Start when the score stays at or above `on` for `start_s`; end below `off` for `end_s`.

    Times are stream seconds, so a paused or slowed stream does not shorten the persistence.
    """

    def __init__(self, *, on: float, off: float, start_s: float, end_s: float) -> None:
        """Keep the levels and durations; the condition starts inactive."""
        if off > on:
            raise ValueError("the release level must not exceed the start level")
        self._on, self._off = on, off
        self._start_s, self._end_s = start_s, end_s
        self.active = False
        self.score = 0.0
        self.peak = 0.0
        self.since_s: float | None = None
        self._pending_since: float | None = None
        self._clear_since: float | None = None

    @property
    def pending(self) -> bool:
        """Return whether the score is at the start level but has not held long enough yet."""
        return not self.active and self._pending_since is not None

    def update(self, score: float, t_s: float) -> Transition | None:
        """Feed one frame's score at stream time t_s; return a transition if one happened."""
        self.score = score
        if self.active:
            self.peak = max(self.peak, score)
            if score >= self._off:
                self._clear_since = None
                return None
            if self._clear_since is None:
                self._clear_since = t_s
            if t_s - self._clear_since >= self._end_s:
                return self._end(score)
            return None
        if score < self._on:
            self._pending_since = None
            self.peak = 0.0
            return None
        if self._pending_since is None:
            self._pending_since = t_s
        self.peak = max(self.peak, score)
        if t_s - self._pending_since >= self._start_s:
            self.active = True
            self.since_s = self._pending_since
            self._clear_since = None
            return Transition(EventPhase.STARTED, score, self.peak, self._pending_since)
        return None

    def cancel_pending(self) -> None:
        """Forget a start in progress (its frames no longer count); an active condition stays."""
        if not self.active:
            self._pending_since = None
            self.peak = 0.0

    def reset(self) -> Transition | None:
        """Clear the condition at once (e.g. the reference was re-captured); return its end."""
        self._pending_since = None
        self._clear_since = None
        if not self.active:
            self.peak = 0.0
            return None
        return self._end(self.score)

    def _end(self, score: float) -> Transition:
        since = self.since_s if self.since_s is not None else 0.0
        transition = Transition(EventPhase.ENDED, score, self.peak, since)
        self.active = False
        self.since_s = None
        self.peak = 0.0
        self._clear_since = None
        self._pending_since = None
        return transition
