"""Fetch the models a configuration needs before it runs (`vigil-analytics serve --download`).

A container or add-on starts with an empty data folder: the first configuration it receives
finds no detector on disk. With `--download` the server fetches each missing model from the
registry's pinned URL into its models folder (sha256-checked, via a temporary file) before the
engine starts, so analysis begins without a manual step. A failed download is logged; the
engine then reports the missing model as it would without `--download`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from vigil_core.config import EngineConfig
from vigil_core.errors import ModelError, ModelMissing
from vigil_core.inference.loader import download_model, resolve_model
from vigil_core.inference.registry import ModelRegistry, default_registry

_LOGGER = logging.getLogger(__name__)


def needed_models(config: EngineConfig) -> list[str]:
    """Return the registered models this configuration loads, in loading order."""
    names: list[str] = []
    if any(camera.detections == "vigil" for camera in config.cameras):
        names.append(config.detector.model)
    reading = [camera.anpr for camera in config.cameras if camera.anpr.enabled]
    if reading:
        names.append(config.anpr.detector)
        if any("cct" in spec.ocr for spec in reading):
            names.append(config.anpr.ocr_model)
    return names


def fetch_missing(
    config: EngineConfig, folder: Path, *, registry: ModelRegistry | None = None
) -> list[Path]:
    """Download into folder every needed model no search place holds; return what arrived."""
    registry = registry or default_registry()
    fetched: list[Path] = []
    for name in needed_models(config):
        try:
            resolve_model(name, models_dir=folder, registry=registry)
            continue
        except ModelMissing:
            pass
        except ModelError as err:
            # A file under that name that is not the registered model is never overwritten.
            _LOGGER.error("Model %s cannot be used: %s", name, err)
            continue
        spec = registry.get(name)
        _LOGGER.info("Downloading model %s from %s into %s", name, spec.url, folder)
        try:
            fetched.append(download_model(spec, folder, progress=_quiet))
        except ModelError as err:
            _LOGGER.error("Model %s could not be downloaded: %s", name, err)
    return fetched


def _quiet(_received: int, _total: int | None) -> None:
    """Draw no progress bar: a server's stderr is a log, not a terminal."""
