"""Resize and convert decoded frames to RGB arrays in one swscale pass."""

from __future__ import annotations

import av
import numpy as np

from vigil_core.types import RGBImage


def fit_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """Return the analysis size: aspect kept, only ever downscaled, both sides even.

    Even sides keep chroma subsampling exact and suit every model's stride.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid frame size {width}x{height}")
    if max_width is not None and width > max_width:
        height = round(height * max_width / width)
        width = max_width
    return max(2, width - width % 2), max(2, height - height % 2)


def to_rgb(frame: av.VideoFrame, size: tuple[int, int]) -> RGBImage:
    """Return the frame as an H×W×3 RGB uint8 array of the given (width, height).

    Resizing in the same swscale call as the colour conversion is cheaper than converting the
    full frame first. AREA averages the source pixels (no aliasing on thin edges) and measured
    as fast as BILINEAR here (1080p to 640x360: 1.7 ms vs 2.6 ms).
    """
    width, height = size
    if (frame.width, frame.height, frame.format.name) == (width, height, "rgb24"):
        rgb = frame
    elif (frame.width, frame.height) == (width, height):
        rgb = frame.reformat(format="rgb24")
    else:
        rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
    image = rgb.to_ndarray()
    # to_ndarray already strips row padding; this keeps the contract explicit for consumers.
    return np.ascontiguousarray(image, dtype=np.uint8)
