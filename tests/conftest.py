"""Fixtures shared by every test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.shared import MODELS_DIR, media


@pytest.fixture
def models_dir() -> Path:
    """Return the shared models folder."""
    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    return MODELS_DIR


@pytest.fixture
def vtest_path() -> Path:
    """Return the verified PETS2009 clip."""
    return media("vtest.avi")
