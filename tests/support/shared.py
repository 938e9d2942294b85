"""Locate the shared media and model files, verified by sha256, without copying them."""

from __future__ import annotations

from functools import cache
import hashlib
import os
from pathlib import Path

import pytest

SHARED_DIR = Path(
    os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared")
)
MEDIA_DIR = SHARED_DIR / "media"
MODELS_DIR = SHARED_DIR / "models"


@cache
def _sums(folder: Path) -> dict[str, str]:
    sums: dict[str, str] = {}
    sums_file = folder / "SHA256SUMS"
    if sums_file.exists():
        for line in sums_file.read_text().splitlines():
            if line.strip():
                digest, name = line.split(maxsplit=1)
                sums[name.strip().lstrip("*")] = digest
    return sums


@cache
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shared_file(folder: Path, name: str) -> Path:
    """Return a shared file after checking its sha256; skip the test when it is absent."""
    path = folder / name
    if not path.exists():
        pytest.skip(f"shared file {path} is not on this machine")
    expected = _sums(folder).get(name)
    if expected is not None and _sha256(path) != expected:
        pytest.fail(f"{path} does not match its sha256 in {folder / 'SHA256SUMS'}")
    return path


def media(name: str) -> Path:
    """Return a verified path in ../shared/media."""
    return shared_file(MEDIA_DIR, name)


def model_file(name: str) -> Path:
    """Return a verified path in ../shared/models."""
    return shared_file(MODELS_DIR, name)
