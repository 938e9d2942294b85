"""Find a model file, verify its sha256, and download it only when asked to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import hashlib
import importlib.util
import logging
import os
from pathlib import Path
import sys
import tempfile
import threading
import time
from typing import BinaryIO
import urllib.error
import urllib.request

from vigil_core.errors import ModelChecksumMismatch, ModelMissing, ModelsDirInvalid

from .registry import ModelRegistry, ModelSpec, default_registry

_LOGGER = logging.getLogger(__name__)

ENV_MODEL_DIR = "VIGIL_MODEL_DIR"
DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 20

type ProgressFn = Callable[[int, int | None], None]
"""Called with (bytes received so far, total bytes or None when unknown)."""


@dataclass(frozen=True, slots=True)
class SearchPlace:
    """One folder (or file) the loader looks in, and why."""

    origin: str
    path: Path


def resolve_model(
    name: str,
    *,
    path: Path | str | None = None,
    models_dir: Path | str | None = None,
    allow_download: bool = False,
    progress: ProgressFn | None = None,
    registry: ModelRegistry | None = None,
) -> Path:
    """Return the verified path of a registered model.

    Looks, in order, at: the explicit path; models_dir; $VIGIL_MODEL_DIR; ../shared/models from
    the working directory and from the repository; the user cache. The first file found must match
    the registry's sha256. When none is found and allow_download is set, the file is fetched from
    the registry's pinned URL into the user cache.
    """
    spec = (registry or default_registry()).get(name)
    folder = Path(models_dir).expanduser() if models_dir is not None else None
    if folder is not None and folder.exists() and not folder.is_dir():
        # Otherwise the search would silently go on to the other places.
        raise ModelsDirInvalid(
            f"models_dir {models_dir} is not a folder", {"models_dir": str(models_dir)}
        )
    places = search_places(spec, path=path, models_dir=models_dir)
    for place in places:
        if place.path.is_file():
            verify_sha256(place.path, spec)
            _LOGGER.debug("model %s: using %s (%s)", name, place.path, place.origin)
            return place.path
    if allow_download:
        return download_model(spec, cache_dir(), progress=progress)
    looked = "; ".join(f"{place.path} ({place.origin})" for place in places)
    if spec.package is not None:
        hint = f"it ships inside the Python package {spec.package.split('/')[0]}: install it"
    elif spec.url:
        hint = "set models_dir / VIGIL_MODEL_DIR, or allow the download"
    else:
        hint = "no public URL serves this file; put it in a models folder"
    raise ModelMissing(
        f"model '{name}' ({spec.file}) not found; looked in: {looked}; {hint}",
        {"model": name, "file": spec.file, "looked": looked},
    )


def search_places(
    spec: ModelSpec, *, path: Path | str | None = None, models_dir: Path | str | None = None
) -> list[SearchPlace]:
    """Return every candidate file for a model, in search order, without duplicates."""
    places: list[SearchPlace] = []
    if path is not None:
        explicit = Path(path).expanduser()
        places.append(
            SearchPlace("explicit path", explicit / spec.file if explicit.is_dir() else explicit)
        )
    folders: list[tuple[str, Path]] = []
    if models_dir is not None:
        folders.append(("models_dir", Path(models_dir).expanduser()))
    if env := os.environ.get(ENV_MODEL_DIR):
        folders.append((ENV_MODEL_DIR, Path(env).expanduser()))
    folders.extend(_shared_folders())
    folders.append(("user cache", cache_dir()))
    if spec.package is not None and (inside := package_folder(spec.package)) is not None:
        folders.append((f"the installed {spec.package.split('/')[0]} package", inside))
    seen: set[Path] = {place.path.absolute() for place in places}
    for origin, folder in folders:
        candidate = folder / spec.file
        if candidate.absolute() not in seen:
            seen.add(candidate.absolute())
            places.append(SearchPlace(origin, candidate))
    return places


def package_folder(package: str) -> Path | None:
    """Return the folder ``name/sub/dirs`` inside an installed package (None: not installed).

    The package is found without importing it (importing rapidocr pulls in OpenCV).
    """
    name, _, inside = package.partition("/")
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations))) / inside


def shared_candidates() -> list[Path]:
    """Return the ../shared/models folders tried (from the working dir, then the repository)."""
    return [folder for _, folder in _shared_folders()]


def _shared_folders() -> list[tuple[str, Path]]:
    folders = [
        ("../shared/models from the working directory", Path.cwd().parent / "shared" / "models")
    ]
    if (repo := repository_root()) is not None:
        beside_repo = repo.parent / "shared" / "models"
        if beside_repo.absolute() != folders[0][1].absolute():
            folders.append(("../shared/models from the repository", beside_repo))
    return folders


def repository_root() -> Path | None:
    """Return the source checkout holding this package, or None for an installed wheel."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "models" / "registry.yaml").is_file() and (parent / "core").is_dir():
            return parent
    return None


def cache_dir(kind: str = "models") -> Path:
    """Return the user cache folder for downloads of one kind (models, media, ...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vigil" / kind


# --- sha256 ------------------------------------------------------------------------------------

_digests: dict[tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """Return the sha256 of a file, cached by (path, size, mtime) so repeated loads are cheap."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _digests_lock:
        cached = _digests.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _digests_lock:
        _digests[key] = value
    return value


def verify_sha256(path: Path, spec: ModelSpec) -> None:
    """Raise ModelChecksumMismatch when the file is not the registered one."""
    actual = file_sha256(path)
    if actual != spec.sha256:
        raise ModelChecksumMismatch(
            f"model '{spec.name}' file {path} has sha256 {actual}, expected {spec.sha256}",
            {"model": spec.name, "path": str(path), "expected": spec.sha256, "actual": actual},
        )


# --- download ----------------------------------------------------------------------------------


def download_model(spec: ModelSpec, dest_dir: Path, *, progress: ProgressFn | None = None) -> Path:
    """Fetch a model from its pinned URL into dest_dir, verified, via a temp file and a rename."""
    if spec.url is None:
        raise ModelMissing(
            f"model '{spec.name}' ({spec.file}) has no download URL: {spec.source}",
            {"model": spec.name, "file": spec.file, "looked": str(dest_dir)},
        )
    target = download_verified(
        spec.url, dest_dir / spec.file, spec.sha256, progress=progress, what=f"model '{spec.name}'"
    )
    _LOGGER.info("model %s: downloaded %s to %s", spec.name, spec.url, target)
    return target


def download_verified(
    url: str,
    target: Path,
    sha256: str,
    *,
    progress: ProgressFn | None = None,
    what: str | None = None,
) -> Path:
    """Download url to target only if its bytes hash to sha256 (temp file, then atomic rename).

    Raises ModelMissing when the download fails and ModelChecksumMismatch when the bytes differ;
    either way nothing is left at target.
    """
    what = what or target.name
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            actual = _fetch(url, handle, progress or StderrProgress(target.name), what)
        if actual != sha256:
            raise ModelChecksumMismatch(
                f"{what} downloaded from {url} has sha256 {actual}, expected {sha256}",
                {"model": what, "path": url, "expected": sha256, "actual": actual},
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _fetch(url: str, out: BinaryIO, progress: ProgressFn, what: str) -> str:
    """Stream the URL into out and return the sha256 of what was written."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "vigil-core"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            progress(0, total)
            while block := response.read(_CHUNK):
                out.write(block)
                digest.update(block)
                received += len(block)
                progress(received, total)
    except (urllib.error.URLError, OSError, ValueError) as err:
        if isinstance(err, urllib.error.HTTPError):
            reason: object = f"HTTP {err.code} {err.reason}"
        else:
            reason = getattr(err, "reason", None) or err
        raise ModelMissing(
            f"{what} could not be downloaded from {url}: {reason}",
            {"model": what, "file": url, "looked": url},
        ) from err
    return digest.hexdigest()


class StderrProgress:
    """Draw a one-line progress bar on stderr, at most ten times a second."""

    def __init__(self, label: str, width: int = 30) -> None:
        self._label = label
        self._width = width
        self._last = 0.0

    def __call__(self, received: int, total: int | None) -> None:
        """Redraw the bar; finish the line when the download is complete."""
        now = time.monotonic()
        done = total is not None and received >= total
        if not done and now - self._last < 0.1:
            return
        self._last = now
        mib = received / (1 << 20)
        if total:
            filled = int(self._width * received / total)
            bar = "#" * filled + "-" * (self._width - filled)
            line = f"\r{self._label} [{bar}] {mib:.1f}/{total / (1 << 20):.1f} MiB"
        else:
            line = f"\r{self._label} {mib:.1f} MiB"
        sys.stderr.write(line + ("\n" if done else ""))
        sys.stderr.flush()
