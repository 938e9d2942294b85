"""Open, probe and decode video with PyAV, mapping FFmpeg failures to one-line Vigil errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
import logging
import time
from types import TracebackType
from typing import Literal, Self

import av
from av.container import InputContainer
import av.error
from av.video.stream import VideoStream

from vigil_core.errors import (
    AuthFailed,
    NotVideo,
    SourceError,
    SourceTimeout,
    SourceUnavailable,
    StreamNotFound,
)
from vigil_core.redact import StreamAddress, redact_text
from vigil_core.types import RGBImage

from .convert import fit_size, to_rgb

_LOGGER = logging.getLogger(__name__)

type Transport = Literal["tcp", "udp"]
type Source = str | StreamAddress
"""A URL (its credentials are split out at once) or an address split before (SourceSpec's)."""

# PyAV can only interrupt a blocked read through its timeout, so live reads wake up this often
# to check for stop requests; a timed-out read resumes cleanly on RTSP (TCP and UDP) and HTTP.
POLL_S = 0.5
# One second of probing finds H.264/H.265 parameters on cameras (SPS/PPS arrive with the first
# keyframe or in the SDP), and skipping the frame-rate probe (the source measures the rate on
# timestamps) brought the RTSP open time from 2.3 s (FFmpeg defaults) to 0.7 s here.
LIVE_PROBE_OPTIONS = {"analyzeduration": "1000000", "fpsprobesize": "0"}
PROBE_FRAMES_MAX = 300
KEYFRAME_WAIT_SHARE = 0.5
"""first_frame waits this share of its timeout for a clean keyframe, then takes a clean frame
(cameras with intra refresh send no keyframe at all)."""
RESYNC_MIN_FRAMES = 50
"""After a corrupt frame, frames are skipped until a clean keyframe, or at most twice the
measured keyframe interval (and at least this many frames)."""
# Demuxers that carry no timestamps: FFmpeg numbers their frames at a guessed 25 fps, which
# runs a 10 fps MJPEG camera's clock at 0.4x real time, so arrival times are used instead.
UNTIMED_FORMATS = frozenset({"mpjpeg", "mjpeg", "jpeg_pipe", "image2pipe", "mjpeg_2000"})

HELD_PACKETS_MAX = 64
"""Packets held back for one decode burst at most (a bound on memory when no frame is due)."""

_AUTH_ERRORS = (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError)
# FFmpeg's RTSP demuxer reports a server that accepts and never answers as invalid data once
# the open timeout has run out: after this share of the timeout, it is a timeout.
SILENT_SHARE = 0.8
_NOT_VIDEO_ERRORS = (
    av.error.InvalidDataError,
    av.error.DemuxerNotFoundError,
    av.error.DecoderNotFoundError,
    av.error.PatchWelcomeError,
)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a source delivers, for setup flows and diagnostics."""

    width: int
    height: int
    fps: float | None
    """Nominal frame rate announced by the stream, when it announces one."""
    codec: str


def is_live_url(url: str) -> bool:
    """Return whether the URL is a network stream rather than a local file."""
    return "://" in url and not url.lower().startswith("file://")


def local_path(url: str) -> str:
    """Return the path FFmpeg should open for a file source."""
    return url[7:] if url.lower().startswith("file://") else url


def stream_address(source: Source) -> StreamAddress:
    """Return a source as an address: a URL's credentials are split out at once."""
    return source if isinstance(source, StreamAddress) else StreamAddress.parse(source)


def classify_error(
    err: BaseException, source: Source, *, waited_s: float = 0.0, timeout_s: float | None = None
) -> SourceError:
    """Map a PyAV/FFmpeg exception to a SourceError of its own kind.

    Refused login: AuthFailed (invalid_auth); nothing at that path or no such file:
    StreamNotFound (not_found); no answer in time: SourceTimeout (timeout); refused or
    unreachable: SourceUnavailable (cannot_connect); no decodable video: NotVideo (not_video).
    FFmpeg puts the URL it was given in its messages, so only its strerror is kept, redacted;
    the URL shown is the address's credential-free one.
    """
    if isinstance(err, SourceError):
        return err
    safe_url = stream_address(source).display
    live = is_live_url(safe_url)
    detail = redact_text(getattr(err, "strerror", None) or str(err) or type(err).__name__)
    silent = live and timeout_s is not None and waited_s >= SILENT_SHARE * timeout_s
    error_type: type[SourceError]
    if isinstance(err, _AUTH_ERRORS):
        error_type, reason = AuthFailed, f"access refused ({detail})"
    elif isinstance(err, av.error.HTTPNotFoundError):
        error_type, reason = StreamNotFound, "nothing at this path (404 not found)"
    elif isinstance(err, av.error.FileNotFoundError):
        error_type, reason = StreamNotFound, "no such file"
    elif isinstance(err, av.error.ExitError) or (
        silent and isinstance(err, av.error.InvalidDataError)
    ):
        error_type, reason = SourceTimeout, f"no answer within {waited_s:.0f} s"
    elif isinstance(err, _NOT_VIDEO_ERRORS):
        error_type, reason = NotVideo, f"not a readable video ({detail})"
    elif isinstance(err, av.error.ConnectionRefusedError):
        error_type, reason = SourceUnavailable, "connection refused"
    else:
        error_type, reason = SourceUnavailable, detail.rstrip(".").lower()
    return error_type(f"{safe_url}: {reason}", {"url": safe_url, "reason": reason})


def _open_options(url: str, transport: Transport) -> dict[str, str]:
    if not is_live_url(url):
        return {}
    options = LIVE_PROBE_OPTIONS | {"fflags": "+discardcorrupt"}
    if url.lower().startswith(("rtsp://", "rtsps://")):
        # Audio tracks cost bandwidth and a demuxer queue; Vigil never decodes them.
        options |= {"rtsp_transport": transport, "allowed_media_types": "video"}
    return options


class AvDecoder:
    """One opened input: its video stream, decoded frame by frame.

    Reads wake up every `poll_s` without data so that callers can stop, and give up after
    `read_timeout_s` of silence. Packets that fail to decode are counted and skipped. Frames
    FFmpeg flags as corrupt (concealed errors) are skipped, and so are the frames predicted
    from them, until the next clean keyframe: a smeared picture must reach no detector, no
    camera-health check and no zone drawing.
    """

    def __init__(
        self,
        container: InputContainer,
        stream: VideoStream,
        address: StreamAddress,
        read_timeout_s: float,
    ) -> None:
        self._container = container
        self._stream = stream
        self._address = address
        self._safe_url = address.display
        self._read_timeout_s = read_timeout_s
        self.decode_errors = 0
        self.skipped_frames = 0
        """Corrupt frames, and the frames after them until a clean keyframe, not yielded."""
        self.last_packet_at = time.monotonic()
        self._resync = False
        self._since_key: int | None = None
        self._gop: int | None = None

    @classmethod
    def open(
        cls,
        source: Source,
        *,
        transport: Transport = "tcp",
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        poll_s: float = POLL_S,
        threads: int = 1,
    ) -> Self:
        """Open the URL or file and select its first video stream; raise a SourceError.

        The URL with its credentials is composed here, for av.open alone: every message,
        log line and error uses the address's credential-free form.
        """
        address = stream_address(source)
        live = is_live_url(address.url)
        target = address.authenticated() if live else local_path(address.url)
        read_poll_s = min(poll_s, read_timeout_s) if live else read_timeout_s
        started = time.monotonic()
        try:
            container = av.open(
                target,
                mode="r",
                options=_open_options(address.url, transport),
                timeout=(open_timeout_s, read_poll_s),
            )
        except Exception as err:
            waited_s = time.monotonic() - started
            raise classify_error(
                err, address, waited_s=waited_s, timeout_s=open_timeout_s
            ) from None
        if not container.streams.video:
            container.close()
            safe_url = address.display
            raise NotVideo(
                f"{safe_url}: no video stream", {"url": safe_url, "reason": "no video stream"}
            )
        stream = container.streams.video[0]
        stream.thread_type = "FRAME" if threads > 1 else "SLICE"
        stream.thread_count = max(1, threads)
        return cls(container, stream, address, read_timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the input; safe to call twice."""
        try:
            self._container.close()
        except Exception as err:  # closing a broken stream must not raise
            _LOGGER.debug("closing %s failed: %s", self._safe_url, redact_text(str(err)))

    @property
    def codec(self) -> str:
        """Return the codec name, e.g. h264."""
        return str(self._stream.codec_context.name)

    @property
    def nominal_fps(self) -> float | None:
        """Return the frame rate the stream announces, if any (not FFmpeg's 25 fps guess)."""
        if not self.has_timestamps:
            return None
        rate = self._stream.average_rate or self._stream.guessed_rate
        return float(rate) if rate else None

    @property
    def format_name(self) -> str:
        """Return the demuxer name, e.g. rtsp, mov,mp4,m4a,3gp,3g2,mj2 or mpjpeg."""
        return str(self._container.format.name)

    @property
    def has_timestamps(self) -> bool:
        """Return whether frame timestamps come from the stream rather than FFmpeg's guess."""
        return not UNTIMED_FORMATS.intersection(self.format_name.split(","))

    @property
    def time_base(self) -> float | None:
        """Return the stream's time base in seconds per tick."""
        base = self._stream.time_base
        return float(base) if base else None

    def frames(
        self, due: Callable[[float | None], bool] | None = None
    ) -> Iterator[av.VideoFrame | None]:
        """Yield decoded frames until the end of the input; None marks a pause without a frame.

        A None comes after a packet that decoded to nothing or a poll interval without data, so
        the caller can check its stop flag and its stall timers. Raise SourceUnavailable on a
        read error or after read_timeout_s without data.

        With `due`, packets are decoded in bursts: `due(pts_s)` says whether the frame of a
        packet (its timestamp in seconds, None when unknown) may be needed now; the packets
        before one that is due are held and decoded with it. Every frame is still decoded and
        yielded in order; what changes is when. Decoding one camera's frames back to back keeps
        its decoder's state in the CPU's cache, where decoding each frame on its own after a
        wake-up, between other cameras' frames, cost up to 1.3 times as much CPU per frame (24
        paced 640×360 streams, 5 frames per burst). A stream that reorders frames (B-frames)
        is decoded packet by packet: its due frame would come out one packet late.
        """
        self.last_packet_at = time.monotonic()
        held: list[av.Packet] = []
        context = self._stream.codec_context
        base = self.time_base if self.has_timestamps else None
        while True:
            try:
                for packet in self._container.demux(self._stream):
                    self.last_packet_at = time.monotonic()
                    if (
                        due is not None
                        and packet.size
                        and len(held) < HELD_PACKETS_MAX
                        and not context.has_b_frames
                        and not due(_seconds(packet.pts, base))
                    ):
                        held.append(packet)
                        yield None
                        continue
                    held.append(packet)
                    decoded = [frame for held_packet in held for frame in self._decode(held_packet)]
                    held.clear()
                    decoded = [frame for frame in decoded if self._clean(frame)]
                    if not decoded:
                        yield None
                    yield from decoded
                return
            except av.error.ExitError:
                silent_s = time.monotonic() - self.last_packet_at
                if silent_s >= self._read_timeout_s:
                    raise self._error(f"no data for {silent_s:.0f} s") from None
                yield None
            except av.error.FFmpegError as err:
                raise classify_error(err, self._address) from None

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        try:
            return packet.decode()  # type: ignore[return-value]
        except av.error.FFmpegError as err:
            # One corrupt packet (packet loss, a truncated tail) costs its frame, not the stream.
            self.decode_errors += 1
            if self.decode_errors <= 3:
                _LOGGER.debug(
                    "%s: skipped undecodable packet: %s",
                    self._safe_url,
                    redact_text(err.strerror or ""),
                )
            return []

    def _clean(self, frame: av.VideoFrame) -> bool:
        """Return whether to yield a frame: not corrupt, and not predicted from a corrupt one."""
        if frame.key_frame:
            if self._since_key is not None:
                self._gop = self._since_key + 1
            self._since_key = 0
        elif self._since_key is not None:
            self._since_key += 1
        if frame.is_corrupt:
            # Without any keyframe seen (intra refresh), there is no keyframe to wait for.
            self._resync = self._since_key is not None
            self._skip("corrupt frame (FFmpeg concealed decoding errors)")
            return False
        if self._resync:
            limit = max(2 * (self._gop or 0), RESYNC_MIN_FRAMES)
            if not frame.key_frame and (self._since_key or 0) < limit:
                self._skip("frame predicted from a corrupt one")
                return False
            self._resync = False
        return True

    def _skip(self, why: str) -> None:
        self.skipped_frames += 1
        if self.skipped_frames <= 3:
            _LOGGER.debug("%s: skipped a %s", self._safe_url, why)

    def _error(self, reason: str) -> SourceTimeout:
        safe_url = self._safe_url
        return SourceTimeout(f"{safe_url}: {reason}", {"url": safe_url, "reason": reason})


def _seconds(pts: int | None, base: float | None) -> float | None:
    return pts * base if pts is not None and base else None


def first_frame(
    source: Source, *, timeout_s: float, transport: Transport = "tcp"
) -> tuple[av.VideoFrame, AvDecoder]:
    """Open the source and return its first clean keyframe with the open decoder.

    Corrupt frames are never returned (AvDecoder skips them). A clean frame that is not a
    keyframe is returned only after half the timeout without any keyframe (intra refresh).
    """
    address = stream_address(source)
    started = time.monotonic()
    deadline = started + timeout_s
    settle = started + KEYFRAME_WAIT_SHARE * timeout_s
    decoder = AvDecoder.open(
        address, transport=transport, open_timeout_s=timeout_s, read_timeout_s=timeout_s
    )
    try:
        fallback: av.VideoFrame | None = None
        for count, frame in enumerate(decoder.frames()):
            if frame is not None and frame.key_frame:
                return frame, decoder
            fallback = fallback or frame
            now = time.monotonic()
            if fallback is not None and (now > settle or count > PROBE_FRAMES_MAX // 2):
                return fallback, decoder
            if now > deadline or count > PROBE_FRAMES_MAX:
                break
        safe_url = address.display
        if is_live_url(address.url) and time.monotonic() > deadline:
            reason = f"no decodable frame within {timeout_s:g} s"
            raise SourceTimeout(f"{safe_url}: {reason}", {"url": safe_url, "reason": reason})
        raise NotVideo(
            f"{safe_url}: no decodable video frame",
            {"url": safe_url, "reason": "no decodable video frame"},
        )
    except BaseException:
        decoder.close()
        raise


def probe(source: Source, *, timeout_s: float = 10.0, transport: Transport = "tcp") -> ProbeResult:
    """Open the source, decode one frame and describe it; raise a SourceError on failure."""
    frame, decoder = first_frame(source, timeout_s=timeout_s, transport=transport)
    with decoder:
        return ProbeResult(
            width=frame.width, height=frame.height, fps=decoder.nominal_fps, codec=decoder.codec
        )


def grab_frame(
    source: Source,
    *,
    timeout_s: float = 10.0,
    max_width: int | None = None,
    transport: Transport = "tcp",
) -> RGBImage:
    """Return one RGB frame from the source, downscaled to max_width if wider."""
    frame, decoder = first_frame(source, timeout_s=timeout_s, transport=transport)
    with decoder:
        return to_rgb(frame, fit_size(frame.width, frame.height, max_width))
