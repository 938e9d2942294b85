"""The blocking-call guard itself: decoding, encoding, file reads and imports on the loop.

The guard watches the integration and the in-process server alike.
"""

from __future__ import annotations

from pathlib import Path

from blockbuster import BlockingError
import numpy as np
import pytest

from vigil_core.annotate import annotate, to_jpeg
from vigil_core.decode import probe
from vigil_core.errors import SourceUnavailable
from vigil_core.inference.loader import file_sha256
from vigil_core.server import VigilServer

INTEGRATION_FILE = str(
    Path(__file__).resolve().parents[2] / "custom_components" / "vigil" / "__init__.py"
)


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


async def test_the_in_process_server_is_watched_too(
    blocking_guard: list[str], vigil_server: VigilServer
) -> None:
    """The server must never block its loop either: its own file reads on the loop are caught."""
    with pytest.raises(BlockingError):
        vigil_server.data.token()
    assert blocking_guard
    blocking_guard.clear()


async def test_lazy_imports_on_the_loop_are_caught(blocking_guard: list[str]) -> None:
    """An import made by Vigil's code on the loop (a lazy import reads files) is caught."""
    code = compile("import importlib\nimportlib.import_module('json')\n", INTEGRATION_FILE, "exec")
    with pytest.raises(BlockingError):
        exec(code, {})
    assert blocking_guard == ["importlib.import_module"]
    blocking_guard.clear()
