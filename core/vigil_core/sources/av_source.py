"""Decode a file or a live stream on a worker thread, sample it and report its state."""

from __future__ import annotations

import logging
import random
import sys
import threading
import time

import av
import av.error

from vigil_core.config import SourceSpec
from vigil_core.costs import Laps, StageCosts
from vigil_core.decode.av_decoder import AvDecoder
from vigil_core.decode.convert import fit_size, to_rgb
from vigil_core.decode.timing import RateMeter, RateSampler, StreamClock
from vigil_core.errors import NotVideo, SourceError, SourceUnavailable
from vigil_core.events.model import SourceState, SourceStateEvent
from vigil_core.redact import StreamAddress, redact_text
from vigil_core.sources.base import FrameCallback, SourceStats, StateCallback
from vigil_core.sources.reachability import Cancelled, wait_reachable
from vigil_core.types import Frame

_LOGGER = logging.getLogger(__name__)

HEALTHY_S = 30.0
"""Online this long, a source starts its next reconnect from the initial backoff again."""
JITTER = 0.1
"""Backoff delays vary by ±10 % so cameras behind one NVR do not reconnect in lockstep."""
MAX_CALLBACK_ERRORS_LOGGED = 3

# Translation keys of state reasons (the error classes carry their own for failures).
KEY_CONNECTING = "connecting"
KEY_ONLINE = "online"
KEY_STALLED = "stalled"
KEY_STREAM_LOST = "stream_lost"
KEY_END_OF_FILE = "end_of_file"
KEY_INTERNAL = "internal_error"


class AvSource:
    """Frames from a local file or an RTSP/HTTP(S) URL, decoded with PyAV on its own thread.

    Frames are sampled at `fps` on their timestamps, downscaled to `max_width` and converted to
    RGB only when sampled. Files run as fast as `on_frame` accepts them (it may block to apply
    backpressure) unless `spec.realtime`, and end with ENDED. Live sources reconnect with
    exponential backoff; their `on_frame` must not block (use a LatestFrameSlot).

    `stop()` returns within about half a second while reading: PyAV can only interrupt a read
    through its timeout, so live reads use a short one and resume after each expiry.
    """

    def __init__(
        self,
        camera_id: str,
        spec: SourceSpec,
        *,
        fps: float,
        max_width: int,
        on_frame: FrameCallback,
        on_state: StateCallback,
        costs: StageCosts | None = None,
    ) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self._camera_id = camera_id
        self._spec = spec
        self._fps = fps
        self._max_width = max_width
        self._on_frame = on_frame
        self._on_state = on_state
        self.costs = costs or StageCosts()
        """CPU time of decoding, conversion and hand-off, charged on the worker thread."""
        self._live = not spec.is_file
        # The credentials stay apart from the URL: the decoder composes them only to open.
        self._address = spec.address if self._live else StreamAddress(str(spec.path))
        self._safe_url = spec.display_url
        self._threads = spec.decode_threads or 1
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = SourceState.OFFLINE
        self._outage = False
        """Between the first failure of an outage and the next frame."""
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._decoded = 0
        self._delivered = 0
        self._decode_errors = 0
        self._skipped = 0
        self._reconnects = 0
        self._last_frame_at: float | None = None
        self._decoder: AvDecoder | None = None
        self._time_base: float | None = None
        self._callback_errors = 0
        self._clock = StreamClock(live=self._live, nominal_fps=None)
        self._sampler = RateSampler(self._fps)
        self._meter = RateMeter()
        self._size_key: tuple[int, int] = (0, 0)
        self._size: tuple[int, int] = (0, 0)
        self._pace_origin: tuple[float, float] | None = None
        self._last_pts: tuple[float, float] | None = None
        """The last decoded frame's timestamp and stream time, to tell a packet's time."""
        self._online_since: float | None = None

    @property
    def camera_id(self) -> str:
        """Return the camera this source feeds."""
        return self._camera_id

    @property
    def state(self) -> SourceState:
        """Return the current connection state."""
        return self._state

    @property
    def stats(self) -> SourceStats:
        """Return a snapshot of the counters."""
        decoder = self._decoder
        return SourceStats(
            frames_decoded=self._decoded,
            frames_delivered=self._delivered,
            decode_errors=self._decode_errors + (decoder.decode_errors if decoder else 0),
            frames_skipped=self._skipped + (decoder.skipped_frames if decoder else 0),
            reconnects=self._reconnects,
            last_frame_at=self._last_frame_at,
            input_fps=self._meter.fps,
        )

    def start(self) -> None:
        """Start the worker thread; return at once."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError(f"source of {self._camera_id} is already running")
        self._stop_event.clear()
        self._outage = False
        self._reset_counters()
        self._thread = threading.Thread(
            target=self._run, name=f"vigil-source-{self._camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Signal the worker, wait for it to close its input; return whether it finished.

        Reads, the reachability check and backoff waits notice the request within 0.5 s. An
        open already past its TCP connect (RTSP handshake, stream probing) cannot be cut short:
        a server that accepts and then stays silent holds the worker up to spec.open_timeout_s,
        after which the daemon thread closes its input and ends by itself.
        """
        self._stop_event.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return thread is None
        thread.join(timeout)
        return not thread.is_alive()

    # Worker thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._live:
                self._run_live()
            else:
                self._run_file()
        except Exception:
            _log_unexpected("%s: source thread failed (%s)", self._camera_id, self._safe_url)
            self._set_state(SourceState.OFFLINE, "internal error", KEY_INTERNAL)

    def _open(self) -> AvDecoder:
        return AvDecoder.open(
            self._address,
            transport=self._spec.transport,
            open_timeout_s=self._spec.open_timeout_s,
            read_timeout_s=self._spec.read_timeout_s,
            threads=self._threads,
        )

    def _run_file(self) -> None:
        self._set_state(SourceState.CONNECTING, "opening file", KEY_CONNECTING)
        try:
            decoder = self._open()
        except SourceError as err:
            self._set_failed(err)
            return
        read_error: SourceError | None = None
        with decoder:
            self._begin_session(decoder)
            laps = self.costs.laps()
            try:
                for frame in decoder.frames(self._due):
                    if self._stop_event.is_set():
                        return
                    if frame is not None:
                        laps("decode")
                        self._handle_frame(frame, laps)
            except SourceError as err:
                read_error = err
            self._end_session(decoder)
        if self._stop_event.is_set():
            return
        if self._decoded == 0:
            reason = "no decodable video frame"
            self._set_failed(
                read_error or NotVideo(f"{self._safe_url}: {reason}", {"reason": reason})
            )
            return
        reason = "end of file"
        if read_error is not None:
            reason = f"stopped early: {_reason(read_error)}"
        elif self._decode_errors:
            reason = f"end of file ({self._decode_errors} undecodable packets skipped)"
        self._set_state(SourceState.ENDED, reason, KEY_END_OF_FILE)

    def _run_live(self) -> None:
        failures = 0
        while not self._stop_event.is_set():
            self._set_state(SourceState.CONNECTING, "connecting", KEY_CONNECTING, attempt=failures)
            self._online_since = None
            try:
                wait_reachable(
                    self._address.url, timeout_s=self._spec.open_timeout_s, cancel=self._stop_event
                )
                decoder = self._open()
            except Cancelled:
                return
            except SourceError as err:
                error: SourceError | None = err
            else:
                with decoder:
                    error = self._consume_guarded(decoder)
            if self._stop_event.is_set() or error is None:
                return
            online_since = self._online_since
            if online_since is not None and time.monotonic() - online_since >= HEALTHY_S:
                failures = 0
            failures += 1
            delay = self._backoff_s(failures)
            self._set_failed(error, retry_in_s=round(delay, 2), attempt=failures)
            if self._stop_event.wait(delay):
                return
            self._reconnects += 1

    def _consume_guarded(self, decoder: AvDecoder) -> SourceError | None:
        """Consume one connection; an unexpected error reconnects instead of ending the camera."""
        try:
            return self._consume_live(decoder)
        except Exception:
            _log_unexpected("%s: error while reading %s", self._camera_id, self._safe_url)
            return self._lost("internal error")
        finally:
            self._end_session(decoder)

    def _consume_live(self, decoder: AvDecoder) -> SourceError | None:
        """Read one connection until it fails (return why) or a stop request (return None)."""
        self._begin_session(decoder)
        stall_s = self._spec.stall_s
        give_up_s = stall_s + self._spec.read_timeout_s
        connected_at = time.monotonic()
        last_frame_at: float | None = None
        laps = self.costs.laps()
        try:
            for frame in decoder.frames(self._due):
                if self._stop_event.is_set():
                    return None
                now = time.monotonic()
                if frame is not None:
                    laps("decode")
                    last_frame_at = now
                    if self._online_since is None:
                        self._online_since = now
                    self._handle_frame(frame, laps)
                    continue
                laps("decode", 0)
                quiet_s = now - (last_frame_at or connected_at)
                if last_frame_at is not None and quiet_s >= stall_s:
                    self._set_state(SourceState.STALLED, f"no frame for {stall_s:g} s", KEY_STALLED)
                if quiet_s >= give_up_s:
                    return self._lost(f"no decodable frame for {give_up_s:g} s")
        except SourceError as err:
            return err
        if self._stop_event.is_set():
            return None
        return self._lost("stream closed by the source")

    def _begin_session(self, decoder: AvDecoder) -> None:
        """Prepare timing for a new connection (the stream clock itself continues)."""
        if self._clock.now_s is None:
            self._clock = StreamClock(live=self._live, nominal_fps=decoder.nominal_fps)
        else:
            self._clock.reset_timeline()
        # A file without timestamps still gets an even clock from the frame rate; a live one
        # without them falls back to arrival times inside StreamClock.
        self._time_base = decoder.time_base if decoder.has_timestamps else None
        self._last_pts = None
        self._decoder = decoder
        # The rate of this connection, not an average over the outage before it.
        self._meter = RateMeter()

    def _end_session(self, decoder: AvDecoder) -> None:
        self._decode_errors += decoder.decode_errors
        self._skipped += decoder.skipped_frames
        self._decoder = None

    def _handle_frame(self, frame: av.VideoFrame, laps: Laps) -> None:
        """Time, count and maybe deliver one decoded frame."""
        received_at = time.monotonic()
        base = self._time_base
        pts_s = float(frame.pts * base) if frame.pts is not None and base else None
        t_s = self._clock.advance(pts_s, received_at)
        if pts_s is not None:
            self._last_pts = (pts_s, t_s)
        self._meter.add(t_s)
        index = self._decoded
        self._decoded += 1
        self._last_frame_at = received_at
        if self._state is not SourceState.ONLINE:
            self._set_state(SourceState.ONLINE, "receiving frames", KEY_ONLINE)
        if self._spec.realtime and not self._live:
            # Every frame at its own time, as a camera sends them: decoding the frames between
            # two samples in one burst made 24 paced files contend for the GIL with analysis.
            if not self._pace(t_s):
                return
            received_at = time.monotonic()
        if not self._sampler.take(t_s):
            return  # its bookkeeping is charged to the next frame's decode: one clock read less
        laps("source")
        image = to_rgb(frame, self._analysis_size(frame.width, frame.height))
        laps("convert")
        self._delivered += 1
        self._deliver(
            Frame(
                camera_id=self._camera_id,
                index=index,
                pts_s=t_s,
                received_at=received_at,
                image=image,
                source_size=(frame.width, frame.height),
            )
        )
        laps("handoff")

    def _due(self, pts_s: float | None) -> bool:
        """Return whether a packet's frame may be sampled: decode it and those held before it.

        Its stream time is the last frame's plus the timestamp step, as StreamClock gives on a
        regular timeline; an unknown, repeated or backward timestamp decodes at once. A paced
        file waits here for the due frame's time, so the frames before it decode in one burst
        (and the frames' own pacing finds their time passed).
        """
        last = self._last_pts
        if pts_s is None or last is None or pts_s <= last[0]:
            return True
        t_s = last[1] + (pts_s - last[0])
        if not self._sampler.due(t_s):
            return False
        if self._spec.realtime and not self._live:
            self._pace(t_s)
        return True

    def _analysis_size(self, width: int, height: int) -> tuple[int, int]:
        if (width, height) != self._size_key:
            self._size_key = (width, height)
            self._size = fit_size(width, height, self._max_width)
        return self._size

    def _pace(self, t_s: float) -> bool:
        """Wait until the frame's time comes in real time; return False if stopped meanwhile."""
        now = time.monotonic()
        if self._pace_origin is None:
            self._pace_origin = (t_s, now)
            return True
        t0, wall0 = self._pace_origin
        delay = wall0 + (t_s - t0) - now
        return delay <= 0 or not self._stop_event.wait(delay)

    def _backoff_s(self, failures: int) -> float:
        spec = self._spec
        base = spec.backoff_initial_s * 2.0 ** min(failures - 1, 30)
        return min(spec.backoff_max_s, base * random.uniform(1 - JITTER, 1 + JITTER))

    def _lost(self, reason: str) -> SourceUnavailable:
        return SourceUnavailable(f"{self._safe_url}: {reason}", {"reason": reason})

    # Callbacks -----------------------------------------------------------------------------

    def _deliver(self, frame: Frame) -> None:
        try:
            self._on_frame(frame)
        except Exception:
            self._callback_failed("on_frame")

    def _set_failed(
        self, err: SourceError, *, retry_in_s: float | None = None, attempt: int = 0
    ) -> None:
        key = err.translation_key
        if isinstance(err, SourceUnavailable) and self._online_since is not None:
            # It had been online: the stream dropped, which is not the same as never connecting.
            key = KEY_STREAM_LOST
        self._set_state(
            SourceState.OFFLINE, _reason(err), key, retry_in_s=retry_in_s, attempt=attempt
        )

    def _set_state(
        self,
        state: SourceState,
        reason: str,
        translation_key: str,
        *,
        retry_in_s: float | None = None,
        attempt: int = 0,
    ) -> None:
        """Record a state change and emit it once; repeated states are not re-emitted."""
        if state is self._state:
            return
        self._state = state
        reason = redact_text(reason)
        _LOGGER.log(
            self._log_level(state),
            "%s (%s): %s, %s",
            self._camera_id,
            self._safe_url,
            state.value,
            reason,
        )
        event = SourceStateEvent(
            camera_id=self._camera_id,
            state=state,
            wall_time=time.time(),
            reason=reason,
            translation_key=translation_key,
            retry_in_s=retry_in_s,
            attempt=attempt,
        )
        try:
            self._on_state(event)
        except Exception:
            self._callback_failed("on_state")

    def _log_level(self, state: SourceState) -> int:
        """Return INFO for the first failure of an outage and for its end, DEBUG otherwise.

        Each reconnection attempt goes through CONNECTING and OFFLINE again: one INFO line per
        attempt would fill the log during a long outage and say nothing new.
        """
        if state in (SourceState.OFFLINE, SourceState.STALLED):
            if self._outage:
                return logging.DEBUG
            self._outage = True
            return logging.INFO
        if state is SourceState.ONLINE and self._outage:
            self._outage = False
            return logging.INFO
        return logging.DEBUG

    def _callback_failed(self, name: str) -> None:
        self._callback_errors += 1
        if self._callback_errors <= MAX_CALLBACK_ERRORS_LOGGED:
            _LOGGER.exception("%s: %s callback raised", self._camera_id, name)


def _log_unexpected(message: str, *args: object) -> None:
    """Log the exception being handled: FFmpeg's carry the URL, so only their redacted text."""
    err = sys.exc_info()[1]
    if isinstance(err, av.error.FFmpegError):
        _LOGGER.error(f"{message}: %s", *args, redact_text(str(err)))
    else:
        _LOGGER.exception(message, *args)


def _reason(err: SourceError) -> str:
    """Return the short, redacted reason of a source error."""
    return redact_text(err.placeholders.get("reason") or err.message)
