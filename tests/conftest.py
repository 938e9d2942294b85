"""Fixtures shared by every test suite."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import settings
import pytest

from tests.support.bytecode import compile_before_the_workers, keep_bytecode_in_the_venv
from tests.support.shared import MODELS_DIR, media

keep_bytecode_in_the_venv()

settings.register_profile("quick", max_examples=40)
settings.register_profile("long", max_examples=20_000)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add --fuzz-long (20,000 cases per fuzz test) and --container (the image tests)."""
    parser.addoption(
        "--fuzz-long",
        action="store_true",
        help="run every hypothesis fuzz test with 20,000 cases instead of the quick profile",
    )
    parser.addoption(
        "--container",
        action="store_true",
        help="run the container image tests (root, docker.io, debootstrap; several minutes)",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the container tests unless --container asks for them (CI runs them apart).

    In an xdist worker, also put the files holding long runs first (tests/support/scheduling.py).
    """
    if not config.getoption("--container"):
        skip = pytest.mark.skip(reason="container image test: run with --container (see .ci/run)")
        for item in items:
            if "container" in item.keywords:
                item.add_marker(skip)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from tests.support.scheduling import long_files_first  # noqa: PLC0415

        long_files_first(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With --dist loadfile (pyproject.toml), hand out the files in the workers' order."""
    if config.getoption("dist") != "loadfile":
        return None
    from tests.support.scheduling import LongFilesFirst  # noqa: PLC0415

    return LongFilesFirst(config, log)


def pytest_configure(config: pytest.Config) -> None:
    """Load the fuzz profile the command line asks for; give xdist's workers bytecode."""
    settings.load_profile("long" if config.getoption("--fuzz-long") else "quick")
    compile_before_the_workers(config)


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
