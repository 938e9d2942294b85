"""Fixtures shared by every test suite."""

from __future__ import annotations

from pathlib import Path

from hypothesis import settings
import pytest

from tests.support.shared import MODELS_DIR, media

settings.register_profile("quick", max_examples=40)
settings.register_profile("long", max_examples=20_000)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add --fuzz-long: every property-based fuzz test runs 20,000 cases (before a release)."""
    parser.addoption(
        "--fuzz-long",
        action="store_true",
        help="run every hypothesis fuzz test with 20,000 cases instead of the quick profile",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Load the fuzz profile the command line asks for."""
    settings.load_profile("long" if config.getoption("--fuzz-long") else "quick")


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
