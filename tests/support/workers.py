"""Folders the xdist workers of one run share, and a lock to make a file in them only once.

A session fixture runs once per worker: what it builds (a transcoded clip, the built
distributions) was built again by each worker that needed it. Built in the run's own temporary
root instead (the parent of every worker's folder), under a lock, it is built once per run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
import fcntl
import os
from pathlib import Path

import pytest


def run_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """Return a folder of this run that every xdist worker shares (the worker's own without)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / name
    folder.mkdir(exist_ok=True)
    return folder


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the folder's lock (between processes) while the block runs."""
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def made_once(out: Path, make: Callable[[Path], None]) -> Path:
    """Return `out`, made first by `make(path)` unless it exists; one maker at a time.

    `make` writes to a temporary name with the same suffix (ffmpeg picks its muxer by it),
    renamed into place when done: a reader never sees a half-written file.
    """
    with locked(out.parent):
        if not out.exists():
            partial = out.with_name(f"{out.stem}.partial{out.suffix}")
            make(partial)
            partial.replace(out)
    return out
