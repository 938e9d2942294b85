"""The blocking-call guard itself: decoding, encoding and file reads on the loop are caught."""

from __future__ import annotations

from pathlib import Path

from blockbuster import BlockingError
import numpy as np
import pytest

from vigil_core.annotate import annotate, to_jpeg
from vigil_core.decode import probe
from vigil_core.errors import SourceUnavailable
from vigil_core.inference.loader import file_sha256


async def test_decoding_on_the_loop_is_recorded(blocking_guard: list[str]) -> None:
    """PyAV opening a stream on the loop is recorded even when the engine swallows the error."""
    with pytest.raises(SourceUnavailable):
        probe("/nonexistent/clip.mp4", timeout_s=1)
    assert blocking_guard == ["av.open"]
    blocking_guard.clear()


async def test_encoding_on_the_loop_fails(blocking_guard: list[str]) -> None:
    """Drawing and JPEG-encoding a frame on the loop is caught."""
    with pytest.raises(BlockingError):
        to_jpeg(annotate(np.zeros((8, 8, 3), dtype=np.uint8), []))
    blocking_guard.clear()


async def test_file_reads_on_the_loop_fail(blocking_guard: list[str]) -> None:
    """Hashing a model file on the loop is caught."""
    with pytest.raises(BlockingError):
        file_sha256(Path(__file__))
    blocking_guard.clear()


def test_the_same_calls_are_fine_off_the_loop(blocking_guard: list[str]) -> None:
    """Without a running loop (as in a worker thread) nothing is flagged."""
    to_jpeg(annotate(np.zeros((8, 8, 3), dtype=np.uint8), []))
    file_sha256(Path(__file__))
    assert blocking_guard == []
