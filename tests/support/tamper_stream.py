"""Build a camera stream whose lens gets covered mid-stream, from the shared occlusion clip.

`tamper_occlusion.mp4` (1280×720, 4.3 s) shows a still scene until bubble wrap slides over the
lens (from about 2.2 s; covered at the end). Its frames, taken at the stream's rate and scaled
to the stream's size, are replayed back and forth to make a longer stream: the clear view, the
wrap sliding on, staying on, sliding off, the clear view again, and the wrap on for good. The
scene is not a still picture while it is replayed, so the camera never looks frozen. Written
with PyAV into a temporary folder, never into the repository.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tests.support.shared import media
from tests.support.tamper_clips import Image, source_frames

FPS = 10.0
SIZE = (640, 360)
# Frame indexes of the clip taken at 10 fps (docs/tamper.md: Vigil's obstruction score).
CLEAR = tuple(range(0, 21))
"""Before the wrap enters the view: obstruction score 0."""
COVERING = tuple(range(21, 43))
"""The wrap slides over the lens: the score rises from 0.1 to 0.86."""
COVERED = tuple(range(36, 43))
"""Mostly covered: the score stays at 0.7-0.86."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the stream and the frame indexes it shows."""

    name: str
    frames: tuple[int, ...]

    @property
    def seconds(self) -> float:
        """Return how long the segment plays."""
        return len(self.frames) / FPS


def ping_pong(indexes: Sequence[int], seconds: float) -> tuple[int, ...]:
    """Return `indexes` played forth and back for `seconds` at the stream's rate."""
    cycle = [*indexes, *reversed(indexes[1:-1])]
    count = round(seconds * FPS)
    return tuple(cycle[i % len(cycle)] for i in range(count))


def covered_twice(
    *, clear_s: float = 4.0, held_s: float = 3.0, last_s: float = 20.0
) -> list[Segment]:
    """Return the plan: clear, covered, clear again, then covered until the stream ends."""
    return [
        Segment("clear", ping_pong(CLEAR, clear_s)),
        Segment("covering", COVERING),
        Segment("covered", ping_pong(COVERED, held_s)),
        Segment("uncovering", tuple(reversed(COVERING))),
        Segment("clear again", ping_pong(tuple(reversed(CLEAR)), clear_s + 1.0)),
        Segment("covering again", COVERING),
        Segment("covered again", ping_pong(COVERED, last_s)),
    ]


def _frames(plan: Sequence[Segment]) -> Iterator[Image]:
    clip = source_frames(media("tamper_occlusion.mp4"), fps=FPS, seconds=4.4)
    scaled = [
        np.ascontiguousarray(cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        for image in clip
    ]
    for segment in plan:
        for index in segment.frames:
            yield scaled[index]


def build_stream(folder: Path, plan: Sequence[Segment], name: str = "covered.mp4") -> Path:
    """Encode the plan as an H.264 mp4 in `folder` (about two seconds for a minute of stream).

    One slice per frame: PyAV's default slice threading makes libx264 cut every frame into
    slices, and the RTSP path (GStreamer's payloader, FFmpeg's depacketiser) then hands the
    decoder each slice as a frame of its own, so every picture shows only part of the view.
    """
    path = folder / name
    with av.open(str(path), "w") as container:
        # "h264" is libx264 here: the FFmpeg build that PyAV ships has no other H.264 encoder.
        stream = container.add_stream(
            "h264",
            rate=Fraction(round(FPS)),
            options={"preset": "ultrafast", "crf": "20", "g": str(round(2 * FPS)), "bf": "0"},
        )
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.thread_type = "FRAME"
        for index, image in enumerate(_frames(plan)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, round(FPS))
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path
