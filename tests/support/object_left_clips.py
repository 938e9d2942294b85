"""Build object-left test clips from the shared footage: large static changes that are not bags.

`abandoned_bag_aboda4.avi` (a bag put down at about 26 s) with two things composited in that
arrive, stop and stay, as a train stopping at a far platform and a lorry parking do:

- a lorry (the truck of `overpass_320x240.avi`, frame 270, seen from the front) drives down the
  road at the top right from 6 s and parks there from 7.5 s;
- a long band of building front (the top of `vtest.avi`: brick and windows, like the side of a
  train) slides in along the top edge at the left from 9 s and stops there from 10.5 s, a thin
  strip across almost half of the view.

Both stay until the end. Frames are composited with numpy and encoded with PyAV into a temporary
folder (tests/support/tamper_clips.encode), never into the repository.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from tests.support.shared import media
from tests.support.tamper_clips import Image, encode, source_frames

FPS = 10.0
SECONDS = 39.0
LORRY_AT_S = (6.0, 7.5)
LORRY_BOX = (560, 0, 670, 122)
"""Where the lorry parks in the 720 × 480 frame (x1, y1, x2, y2)."""
TRAIN_AT_S = (9.0, 10.5)
TRAIN_BOX = (10, 0, 340, 46)


def _still(name: str, index: int) -> Image:
    frames = source_frames(media(name), fps=1000.0, seconds=index / 25.0 + 1.0)
    return frames[min(index, len(frames) - 1)]


def _paste(frame: Image, patch: Image, box: tuple[int, int, int, int], progress: float) -> None:
    """Paste `patch` into `box`, slid in from outside the frame by (1 - progress) of its travel."""
    x1, y1, x2, y2 = box
    if progress <= 0.0:
        return
    height, width = frame.shape[:2]
    # Lorry from the top (it drives down the road), train from the left along the edge.
    dx, dy = (0, -round((1.0 - progress) * y2)) if y1 == 0 and x2 - x1 < 200 else (0, 0)
    if x2 - x1 >= 200:
        dx = -round((1.0 - progress) * x2)
    px1, py1 = x1 + dx, y1 + dy
    sx1, sy1 = max(0, -px1), max(0, -py1)
    fx1, fy1 = max(0, px1), max(0, py1)
    fx2 = min(width, px1 + patch.shape[1])
    fy2 = min(height, py1 + patch.shape[0])
    if fx2 > fx1 and fy2 > fy1:
        frame[fy1:fy2, fx1:fx2] = patch[sy1 : sy1 + fy2 - fy1, sx1 : sx1 + fx2 - fx1]


def _progress(t_s: float, window: tuple[float, float]) -> float:
    start, end = window
    return min(1.0, max(0.0, (t_s - start) / (end - start))) if t_s >= start else 0.0


def parked_vehicles(folder: Path) -> Path:
    """Encode the bag clip with a lorry and a train-like band arriving and staying."""
    lorry_src = _still("overpass_320x240.avi", 270)[98:219, 125:234]
    lorry = cv2.resize(lorry_src, (LORRY_BOX[2] - LORRY_BOX[0], LORRY_BOX[3] - LORRY_BOX[1]))
    facade = _still("vtest.avi", 10)[0:70, 150:650]
    train = cv2.resize(facade, (TRAIN_BOX[2] - TRAIN_BOX[0], TRAIN_BOX[3] - TRAIN_BOX[1]))
    frames = source_frames(media("abandoned_bag_aboda4.avi"), fps=FPS, seconds=SECONDS)

    def composited() -> Iterator[Image]:
        for index, image in enumerate(frames):
            t_s = index / FPS
            frame = np.ascontiguousarray(image.copy())
            _paste(frame, lorry, LORRY_BOX, _progress(t_s, LORRY_AT_S))
            _paste(frame, train, TRAIN_BOX, _progress(t_s, TRAIN_AT_S))
            yield frame

    return encode(composited(), folder / "aboda4_parked_vehicles.mp4", fps=FPS)
