"""Make small test videos with the ffmpeg command line, always into a temporary folder."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess

import av
import pytest

from tests.support.workers import made_once


def ffmpeg() -> str:
    """Return the ffmpeg executable, or skip the test when it is missing."""
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.skip("ffmpeg is not installed")
    return path


def make_clip(
    folder: Path,
    name: str = "testsrc.mp4",
    *,
    seconds: float = 4.0,
    size: tuple[int, int] = (640, 360),
    fps: float = 10.0,
    gop: int = 10,
    faststart: bool = True,
    pix_fmt: str = "yuv420p",
    bframes: int = 0,
) -> Path:
    """Encode an H.264 test pattern clip (testsrc) and return its path.

    Odd sizes need pix_fmt="yuv444p": 4:2:0 chroma cannot cover an odd width. `bframes` > 0
    encodes B-frames (frames stored out of display order), as few cameras do.
    """
    out = folder / name
    width, height = size
    cmd = [
        ffmpeg(), "-v", "error", "-y", "-f", "lavfi",
        "-i", f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", pix_fmt,
        "-g", str(gop), "-bf", str(bframes),
    ]  # fmt: skip
    if faststart:
        cmd += ["-movflags", "+faststart"]
    subprocess.run([*cmd, str(out)], check=True, timeout=60)
    return out


def codec_of(path: Path) -> str:
    """Return the codec name of the first video stream."""
    container = av.open(str(path))
    try:
        return str(container.streams.video[0].codec_context.name)
    finally:
        container.close()


def ensure_h264_mp4(source: Path, folder: Path, *, seconds: float | None = None) -> Path:
    """Return an H.264 mp4 of the source: itself if it already is one, else a transcode in folder.

    GStreamer's test server streams with `qtdemux ! h264parse ! rtph264pay`, so clips such as
    vtest.avi (msmpeg4) are transcoded once per folder, never into the repository. `seconds`
    keeps only the beginning (vtest.avi in full takes about 4 s to transcode here). The folder
    may be shared by several processes (tests/support/workers.py): each file is made once.
    """
    is_h264_mp4 = source.suffix.lower() in {".mp4", ".mov", ".m4v"} and codec_of(source) == "h264"
    if is_h264_mp4 and seconds is None:
        return source
    suffix = f".{seconds:g}s" if seconds is not None else ""
    limit = ["-t", f"{seconds:g}"] if seconds is not None else []

    def transcode(out: Path) -> None:
        cmd = [
            ffmpeg(), "-v", "error", "-y", "-i", str(source), *limit, "-an",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-bf", "0",
            "-movflags", "+faststart", str(out),
        ]  # fmt: skip
        subprocess.run(cmd, check=True, timeout=300)

    return made_once(folder / f"{source.stem}{suffix}.h264.mp4", transcode)


def looped(source: Path, folder: Path, times: int) -> Path:
    """Return the clip repeated `times` times with continuous timestamps (stream copy, fast).

    The test RTSP server plays a file once; a looped copy keeps a long test's stream alive.
    """
    if times <= 1:
        return source

    def loop(out: Path) -> None:
        cmd = [
            ffmpeg(), "-v", "error", "-y", "-stream_loop", str(times - 1), "-i", str(source),
            "-an", "-c", "copy", "-movflags", "+faststart", str(out),
        ]  # fmt: skip
        subprocess.run(cmd, check=True, timeout=120)

    return made_once(folder / f"{source.stem}.x{times}{source.suffix}", loop)


def damaged_copy(source: Path, out: Path, packet_index: int, length: int = 200) -> Path:
    """Remux a clip with one packet's middle bytes zeroed (packet loss inside a frame).

    The container stays valid; the decoder meets the damage and conceals it, which FFmpeg
    flags as a corrupt frame.
    """
    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        stream = src.streams.video[0]
        copy = dst.add_stream(template=stream)
        for index, packet in enumerate(src.demux(stream)):
            if packet.dts is None:
                continue
            if index == packet_index:
                data = bytearray(bytes(packet))
                middle = len(data) // 2
                data[middle : middle + length] = bytes(min(length, len(data) - middle))
                damaged = av.Packet(bytes(data))
                damaged.pts, damaged.dts = packet.pts, packet.dts
                damaged.time_base = packet.time_base
                damaged.is_keyframe = packet.is_keyframe
                packet = damaged  # noqa: PLW2901 - the damaged stand-in
            packet.stream = copy
            dst.mux(packet)
    return out


def multi_slice_clip(source: Path, folder: Path, *, seconds: float = 6.0) -> Path:
    """Encode `source` as H.264 with four slices per frame, as x264's zerolatency tune and many
    cameras do (a slice-based stream is where broken RTP packetisation shows)."""

    def encode(out: Path) -> None:
        cmd = [
            ffmpeg(), "-v", "error", "-y", "-i", str(source), "-t", f"{seconds:g}", "-an",
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
            "-x264-params", "slices=4", "-pix_fmt", "yuv420p", "-g", "14",
            "-movflags", "+faststart", str(out),
        ]  # fmt: skip
        subprocess.run(cmd, check=True, timeout=120)

    return made_once(folder / f"{source.stem}.slices.mp4", encode)


def resolution_change_clip(
    folder: Path,
    sizes: tuple[tuple[int, int], ...] = ((640, 360), (320, 180)),
    *,
    seconds: float = 3.0,
    fps: int = 10,
) -> Path:
    """Return an mp4 whose picture size changes mid-stream (new SPS in-band), like a camera
    whose resolution is changed in its web page while it streams."""

    def encode(out: Path) -> None:
        parts = []
        for index, (width, height) in enumerate(sizes):
            part = folder / f"part{index}.h264"
            cmd = [
                ffmpeg(), "-v", "error", "-y", "-f", "lavfi",
                "-i", f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-g", str(fps), "-bf", "0", "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(part),
            ]  # fmt: skip
            subprocess.run(cmd, check=True, timeout=60)
            parts.append(part.read_bytes())
        stream = folder / "resolution_change.h264"
        stream.write_bytes(b"".join(parts))
        cmd = [
            ffmpeg(), "-v", "error", "-y", "-r", str(fps), "-i", str(stream), "-c", "copy",
            "-movflags", "+faststart", str(out),
        ]  # fmt: skip
        subprocess.run(cmd, check=True, timeout=60)

    return made_once(folder / "resolution_change.mp4", encode)
