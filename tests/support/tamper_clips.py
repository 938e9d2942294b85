"""Build camera-health test clips from the shared footage, always into a temporary folder.

A clip shows a fixed 75 % window of the source (so a moved view still has picture at its
edges); from a chosen time on, the window is shifted, rotated or zoomed (the camera turned,
knocked or re-zoomed), or the picture is darkened, brightened or switched to a grey
infrared-like image. Frames are warped with OpenCV (a test-only tool) and encoded as H.264
with PyAV, so the checks then see them through the real decoder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

type Image = npt.NDArray[np.uint8]
type Effect = Callable[[Image, float], Image]
"""Turn a window frame into the clip's frame, given the frame's time in seconds."""

WINDOW = 0.75


@dataclass(frozen=True, slots=True)
class ViewChange:
    """Where the camera looks from `at_s` on, relative to its original window."""

    shift: float = 0.0
    """Horizontal move as a fraction of the frame width."""
    rotate_deg: float = 0.0
    """Rotation about the centre, counter-clockwise."""
    zoom: float = 1.0
    """Magnification about the centre."""


def source_frames(path: Path, *, fps: float, seconds: float) -> list[Image]:
    """Decode a clip at native size, keeping about `fps` frames per second for `seconds`."""
    frames: list[Image] = []
    next_s = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            t_s = float(frame.pts * stream.time_base) if frame.pts is not None else index / 25.0
            if t_s + 1e-3 < next_s:
                continue
            frames.append(frame.to_ndarray(format="rgb24"))
            next_s += 1.0 / fps
            if next_s > seconds:
                break
    return frames


def window_view(image: Image, size: tuple[int, int], change: ViewChange | None = None) -> Image:
    """Return the central 75 % window of `image`, moved by `change`, resized to `size`."""
    change = change or ViewChange()
    height, width = image.shape[:2]
    out_w, out_h = size
    cx = width / 2 + change.shift * width * WINDOW
    cy = height / 2
    # Maps the source window around (cx, cy) onto the output frame.
    scale = out_w / (width * WINDOW) * change.zoom
    matrix = cv2.getRotationMatrix2D((cx, cy), change.rotate_deg, scale)
    matrix[0, 2] += out_w / 2 - cx
    matrix[1, 2] += out_h / 2 - cy
    warped = cv2.warpAffine(
        image, matrix, (out_w, out_h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
    )
    return np.ascontiguousarray(warped, dtype=np.uint8)


def moved_view(change: ViewChange, at_s: float, size: tuple[int, int]) -> Effect:
    """Show the original window until `at_s`, then the changed one."""

    def effect(image: Image, t_s: float) -> Image:
        return window_view(image, size, change if t_s >= at_s else None)

    return effect


def gain_ramp(
    start_s: float, ramp_s: float, start: float, end: float, size: tuple[int, int]
) -> Effect:
    """Scale brightness from `start` to `end` over `ramp_s` seconds (dusk, dawn, glare)."""

    def effect(image: Image, t_s: float) -> Image:
        progress = min(1.0, max(0.0, (t_s - start_s) / ramp_s))
        gain = start + (end - start) * progress
        view = window_view(image, size).astype(np.float32) * gain
        return np.clip(view, 0, 255).astype(np.uint8)

    return effect


def infrared_switch(at_s: float, size: tuple[int, int]) -> Effect:
    """Switch to a grey, low-contrast, lifted image at `at_s`, as a camera's night mode does."""

    def effect(image: Image, t_s: float) -> Image:
        view = window_view(image, size)
        if t_s < at_s:
            return view
        luma = view.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        grey = np.clip(60.0 + 0.55 * luma, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)

    return effect


def render(frames: list[Image], fps: float, effect: Effect) -> Iterator[Image]:
    """Apply an effect to source frames taken at `fps`."""
    for index, image in enumerate(frames):
        yield effect(image, index / fps)


def encode(frames: Iterator[Image], path: Path, *, fps: float) -> Path:
    """Encode RGB frames as an H.264 mp4 with PyAV; return the path."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20", "g": str(int(2 * fps)), "bf": "0"}
        first = True
        for index, image in enumerate(frames):
            if first:
                stream.width, stream.height = image.shape[1], image.shape[0]
                first = False
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1) / stream.codec_context.framerate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def region_view(
    image: Image, region: tuple[float, float, float, float], size: tuple[int, int]
) -> Image:
    """Return a relative (x1, y1, x2, y2) region of `image` resized to `size`."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = region
    crop = image[round(y1 * height) : round(y2 * height), round(x1 * width) : round(x2 * width)]
    return np.ascontiguousarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))


def turned_to(
    other: list[Image],
    region: tuple[float, float, float, float],
    at_s: float,
    size: tuple[int, int],
    *,
    fps: float,
    top: tuple[list[Image], tuple[float, float, float, float], float] | None = None,
) -> Effect:
    """Show the original window until `at_s`, then a region of another clip (the camera turned).

    The other clip's region plays on from its own start (its passers-by keep moving), so the new
    view is as sharp and as alive as a real one: a camera turned to face a nearby wall or
    pavement. `top` puts a strip of a third view along the top edge (buildings above the wall):
    (frames, region, share of the height).
    """

    def effect(image: Image, t_s: float) -> Image:
        if t_s < at_s:
            return window_view(image, size)
        index = min(len(other) - 1, round((t_s - at_s) * fps))
        view = region_view(other[index], region, size)
        if top is not None:
            frames, strip_region, share = top
            rows = round(size[1] * share)
            strip = region_view(frames[min(len(frames) - 1, index)], strip_region, (size[0], rows))
            view = np.ascontiguousarray(np.vstack([strip, view[rows:]]))
        return view

    return effect
