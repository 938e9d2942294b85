"""TamperAnalyzer: camera-health checks on every analysed frame, without any object model."""

from __future__ import annotations

from collections.abc import Mapping
import threading
import time

from vigil_core.config import TamperSpec
from vigil_core.events.model import (
    AttrValue,
    EventPhase,
    RuleEvent,
    SourceState,
    SourceStateEvent,
)
from vigil_core.types import Frame

from .conditions import (
    RULE_ID,
    SOURCE_VIGIL,
    VIEW_CONDITIONS,
    StreamLossReason,
    TamperCondition,
    Thresholds,
)
from .features import Floats, Layout
from .latch import ConditionLatch, Transition
from .stream import StreamWatch
from .view import ViewModel, ViewScores

WARMUP_S = 1.0
WARMUP_FRAMES = 3
"""After a (re-)capture, the view is only learned, never judged, for this long."""
MAX_STEP_S = 2.0
"""Longest frame interval a baseline update counts, so a gap does not swamp the baselines."""
REJOIN_S = 2.0
REJOIN_FRAMES = 3
"""After the stream was away (stalled, offline, or a gap in its frames), the first frames are
neither judged nor learned for this long: a decoder starting again mid-stream shows grey or
smeared pictures until the next keyframe, which are not the camera being covered."""
GAP_S = 5.0
"""A jump in stream time this long between two analysed frames counts as the stream away."""


class TamperAnalyzer:
    """Watch one camera for obstruction, defocus, orientation change and stream loss.

    `update` runs on the camera's analysis thread; `on_source_state` on its source thread and
    `recapture_reference` on any thread (a Home Assistant service or button): a lock keeps
    them apart, and a recapture takes effect on the next frame.
    """

    name = "tamper"

    def __init__(self, camera_id: str, spec: TamperSpec, *, fps: float) -> None:
        """Prepare the checks the spec enables; the first frames become the reference."""
        self.camera_id = camera_id
        self.spec = spec
        self.thresholds = Thresholds.for_sensitivity(spec.sensitivity)
        enabled = {
            TamperCondition.OBSTRUCTION: spec.obstruction,
            TamperCondition.DEFOCUS: spec.defocus,
            TamperCondition.ORIENTATION: spec.orientation,
        }
        self._latches = {
            condition: ConditionLatch(
                on=self.thresholds.on(condition),
                off=self.thresholds.off(condition),
                start_s=spec.start_s,
                end_s=spec.end_s,
            )
            for condition in VIEW_CONDITIONS
            if enabled[condition]
        }
        # The stream watch applies its own durations; the latch only adds the release delay.
        self._stream_latch = ConditionLatch(on=1.0, off=1.0, start_s=0.0, end_s=spec.end_s)
        self._stream = StreamWatch(fps=fps, frozen_s=spec.frozen_s, low_fps_s=spec.low_fps_s)
        self._stream_reason: StreamLossReason | None = None
        self._lock = threading.Lock()
        self._view: ViewModel | None = None
        self._scores: ViewScores | None = None
        self._recapture = False
        self._reference_t0 = 0.0
        self._away = False
        self._rejoin_t0: float | None = None
        self._rejoin_frames = 0
        self._last: Frame | None = None
        self._coarse: tuple[Frame, Floats, int] | None = None
        self.last_cost_s = 0.0

    # Public API ----------------------------------------------------------------------------

    def update(self, frame: Frame) -> list[RuleEvent]:
        """Consume one analysed frame; return the conditions that started or ended on it."""
        started = time.perf_counter()
        with self._lock:
            events = self._update(frame)
        self.last_cost_s = time.perf_counter() - started
        return events

    def on_source_state(self, event: SourceStateEvent) -> list[RuleEvent]:
        """Follow the source's connection state: stalled or offline is a stream loss.

        While the stream is away, a condition that was about to start is forgotten, and the
        first frames after it returns are not judged (see `REJOIN_S`).
        """
        with self._lock:
            if event.state in (SourceState.STALLED, SourceState.OFFLINE) and self._last is not None:
                self._stream_away()
            if not self.spec.stream_loss:
                return []
            self._stream.source_state(event.state)
            return self._stream_events(self._last)

    def recapture_reference(self) -> None:
        """Take the next frames as the new reference view (after an intended move)."""
        with self._lock:
            self._recapture = True

    def state(self) -> Mapping[str, AttrValue]:
        """Return each condition's state and score, and the view's diagnostics."""
        with self._lock:
            scores = self._scores
            out: dict[str, AttrValue] = {}
            for condition, latch in self._latches.items():
                out[condition.value] = self._condition_state(latch, self._view_score(condition))
            if self.spec.stream_loss:
                stream_state = self._condition_state(self._stream_latch, self._stream.score())
                stream_state["reason"] = self._stream_reason.value if self._stream_reason else None
                out[TamperCondition.STREAM_LOSS.value] = stream_state
            out["reference_frames"] = self._view.frames if self._view else 0
            out["rejoining"] = self._away or self._rejoin_t0 is not None
            out["structured_share"] = round(scores.structured, 3) if scores else None
            out["view_match"] = round(scores.match, 3) if scores else None
            out["stream_fps"] = _rounded(self._stream.stream_fps)
            out["expected_fps"] = _rounded(self._stream.expected_fps)
            out["cost_ms"] = round(1000.0 * self.last_cost_s, 3)
            return out

    def coarse_of(self, frame: Frame) -> tuple[Floats, int] | None:
        """Return the coarse grey picture taken from this frame, and its stride, if it was seen.

        Pixel (i, j) is the mean green of frame pixels (2s·i + {0, s}, 2s·j + {0, s}), s the
        stride: the motion gate reuses it instead of downscaling the frame a second time.
        """
        coarse = self._coarse
        return (coarse[1], coarse[2]) if coarse is not None and coarse[0] is frame else None

    @property
    def scores(self) -> ViewScores | None:
        """Return the latest frame's view scores (None before the first frame)."""
        return self._scores

    # Frame path ----------------------------------------------------------------------------

    def _update(self, frame: Frame) -> list[RuleEvent]:
        previous = self._last
        self._last = frame
        events: list[RuleEvent] = []
        view = self._view
        if view is None or view.layout.frame_size != (frame.width, frame.height):
            # A new stream size (first frame, or the camera's resolution changed): start over.
            layout = Layout(frame.width, frame.height)
            view = ViewModel(
                layout, layout.cell_mask(self.spec.ignore_regions), adapt_s=self.spec.adapt_s
            )
            self._view = view
            self._reference_t0 = frame.pts_s
        if self._recapture:
            self._recapture = False
            view.reset()
            self._reference_t0 = frame.pts_s
            events += self._end_view_conditions(frame)
        feats = view.layout.extract(frame.image)
        self._coarse = (frame, feats.coarse, view.layout.stride)
        scores = view.score(feats)
        self._scores = scores
        dt_s = frame.pts_s - previous.pts_s if previous is not None else 0.0
        if dt_s > GAP_S:
            self._stream_away()
        dt_s = min(max(dt_s, 0.0), MAX_STEP_S)
        if self._rejoining(frame):
            pass
        elif view.frames < WARMUP_FRAMES or frame.pts_s - self._reference_t0 < WARMUP_S:
            view.learn(feats, dt_s)
        else:
            events += self._view_events(frame, scores)
            rate = self._learning_rate()
            if rate > 0:
                view.learn(feats, dt_s, rate)
        if self.spec.stream_loss:
            self._stream.observe(frame.pts_s, frame.index, feats.coarse)
            events += self._stream_events(frame)
        return events

    def _stream_away(self) -> None:
        """Note that the stream went away: a pending start no longer counts."""
        self._away = True
        for latch in self._latches.values():
            latch.cancel_pending()

    def _rejoining(self, frame: Frame) -> bool:
        """Return whether this frame is one of the first after the stream came back."""
        if self._away:
            self._away = False
            self._rejoin_t0, self._rejoin_frames = frame.pts_s, 0
        if self._rejoin_t0 is None:
            return False
        self._rejoin_frames += 1
        if self._rejoin_frames > REJOIN_FRAMES and frame.pts_s - self._rejoin_t0 >= REJOIN_S:
            self._rejoin_t0 = None
            return False
        return True

    def _learning_rate(self) -> float:
        """Return how much of its usual rate the view may learn from this frame (0-1).

        Nothing while a condition is pending or active, or the picture frozen; and less the
        closer a score is to its start level, so a lens losing focus over a few seconds is not
        learned as the new normal before it crosses the threshold.
        """
        if self._stream.frozen_for_s > 0:
            return 0.0
        rate = 1.0
        for condition, latch in self._latches.items():
            if latch.active or latch.pending:
                return 0.0
            closeness = min(1.0, max(0.0, latch.score / self.thresholds.on(condition)))
            rate = min(rate, (1.0 - closeness) ** 2)
        return rate

    def _view_score(self, condition: TamperCondition) -> float:
        scores = self._scores
        if scores is None:
            return 0.0
        return {
            TamperCondition.OBSTRUCTION: scores.obstruction,
            TamperCondition.DEFOCUS: scores.defocus,
            TamperCondition.ORIENTATION: scores.orientation,
        }[condition]

    def _view_events(self, frame: Frame, scores: ViewScores) -> list[RuleEvent]:
        events = []
        for condition, latch in self._latches.items():
            transition = latch.update(self._view_score(condition), frame.pts_s)
            if transition is not None:
                extra: dict[str, AttrValue] = {
                    "threshold": self.thresholds.on(condition),
                    "structured_share": round(scores.structured, 3),
                    "view_match": round(scores.match, 3),
                }
                events.append(self._event(condition, transition, frame, extra))
        return events

    def _end_view_conditions(self, frame: Frame) -> list[RuleEvent]:
        events = []
        for condition, latch in self._latches.items():
            transition = latch.reset()
            if transition is not None:
                extra: dict[str, AttrValue] = {"reason": "reference_recaptured"}
                events.append(self._event(condition, transition, frame, extra))
        return events

    def _stream_events(self, frame: Frame | None) -> list[RuleEvent]:
        reason = self._stream.reason()
        t_s = frame.pts_s if frame is not None else 0.0
        transition = self._stream_latch.update(1.0 if reason else 0.0, t_s)
        extra: dict[str, AttrValue] = {
            "stream_fps": _rounded(self._stream.stream_fps),
            "expected_fps": _rounded(self._stream.expected_fps),
            "frozen_s": round(self._stream.frozen_for_s, 2),
        }
        score = self._stream.score()
        if transition is not None:
            if transition.phase is EventPhase.STARTED:
                self._stream_reason = reason
            extra["reason"] = self._stream_reason.value if self._stream_reason else None
            if transition.phase is EventPhase.ENDED:
                self._stream_reason = None
            return [self._event(TamperCondition.STREAM_LOSS, transition, frame, extra, score)]
        if self._stream_latch.active and reason is not None and reason is not self._stream_reason:
            self._stream_reason = reason
            extra["reason"] = reason.value
            update = Transition(EventPhase.UPDATED, 1.0, 1.0, self._stream_latch.since_s or t_s)
            return [self._event(TamperCondition.STREAM_LOSS, update, frame, extra, score)]
        return []

    # Values --------------------------------------------------------------------------------

    def _event(
        self,
        condition: TamperCondition,
        transition: Transition,
        frame: Frame | None,
        extra: Mapping[str, AttrValue],
        score: float | None = None,
    ) -> RuleEvent:
        at_s = frame.pts_s if frame is not None else 0.0
        attrs: dict[str, AttrValue] = {
            "condition": condition.value,
            "source": SOURCE_VIGIL,
            "score": round(transition.score if score is None else score, 3),
            "peak_score": round(transition.peak if score is None else max(score, 0.0), 3),
            "since_s": round(transition.since_s, 3),
        }
        if transition.phase is EventPhase.ENDED:
            attrs["duration_s"] = round(max(0.0, at_s - transition.since_s), 3)
        attrs.update(extra)
        return RuleEvent(
            kind=condition.value,
            camera_id=self.camera_id,
            rule_id=RULE_ID,
            track_id=None,
            phase=transition.phase,
            at_s=at_s,
            frame_index=frame.index if frame is not None else 0,
            wall_time=time.time(),
            latency_s=max(0.0, time.monotonic() - frame.received_at) if frame is not None else 0.0,
            source=SOURCE_VIGIL,
            attrs=attrs,
        )

    @staticmethod
    def _condition_state(latch: ConditionLatch, score: float) -> dict[str, AttrValue]:
        return {
            "active": latch.active,
            "score": round(score, 3),
            "since_s": latch.since_s,
            "source": SOURCE_VIGIL,
        }


def _rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None
