"""Read MOT-challenge style ground truth (frame, id, left, top, width, height, ...)."""

from __future__ import annotations

import csv
from pathlib import Path

from vigil_core.types import BBox


def read_mot_csv(path: Path, *, frame_base: int = 1) -> dict[int, list[tuple[int, BBox]]]:
    """Return boxes per 0-based frame index from a MOT-style csv.

    MOT files number frames from 1 (`frame_base`); the engine's `Frame.index` starts at 0, so
    frame `frame_base` becomes index 0. Lines starting with `#` and blank lines are skipped;
    columns after the sixth (confidence, class, visibility, world x/y/z) are ignored.
    """
    frames: dict[int, list[tuple[int, BBox]]] = {}
    with path.open(newline="") as handle:
        rows = csv.reader(line for line in handle if line.strip() and not line.startswith("#"))
        for row in rows:
            frame, obj_id = int(float(row[0])), int(float(row[1]))
            left, top, width, height = (float(v) for v in row[2:6])
            box = BBox(left, top, left + width, top + height)
            frames.setdefault(frame - frame_base, []).append((obj_id, box))
    return frames
