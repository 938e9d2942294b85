"""Crash-safe files in the state folder: atomic writes, secret keys, leftovers of a crash.

A file is written to a temporary sibling, flushed to disk and only then given its name, so a
crash (or a full disk) leaves the old file or the new one, never an empty or half one.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import logging
import os
from pathlib import Path
import tempfile
import time

from vigil_core.errors import StateDirUnwritable

_LOGGER = logging.getLogger(__name__)

STALE_TEMP_S = 60.0
"""A temporary file this old belongs to no write in progress: a crash left it."""


def write_atomically(
    path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = False
) -> bool:
    """Write `data` to `path` through a flushed temporary file; return whether it was written.

    With `exclusive`, an existing `path` is kept (another process made it first) and False is
    returned; otherwise it is replaced.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            try:
                # A hard link fails when the name exists: two first starts cannot both win.
                os.link(tmp, path)
            except FileExistsError:
                return False
        else:
            tmp.replace(path)
        _fsync_folder(path.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def load_or_create_secret(path: Path, make: Callable[[], bytes], what: str) -> bytes:
    """Return the content of a secret file, creating it with `make()` the first time.

    An empty file can only come from a crash between creating and writing it (versions before
    this one created it first): nothing was ever keyed with it, so a new secret replaces it,
    and a log line says so.
    """
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        content = None
    if content is not None and content.strip():
        return content
    if content is not None:
        _LOGGER.warning(
            "The %s in %s was empty (a start interrupted while creating it); a new one was made",
            what,
            path,
        )
    remove_stale_temp_files(path.parent, f".{path.name}-*.tmp")
    secret = make()
    if write_atomically(path, secret, exclusive=content is None):
        return secret
    return path.read_bytes()  # another process created it first: use theirs


def remove_stale_temp_files(folder: Path, pattern: str, older_than_s: float = STALE_TEMP_S) -> int:
    """Delete temporary files matching `pattern` that a crash left behind; return how many."""
    removed = 0
    limit = time.time() - older_than_s
    with contextlib.suppress(OSError):
        for candidate in folder.glob(pattern):
            with contextlib.suppress(OSError):
                if candidate.is_file() and candidate.stat().st_mtime < limit:
                    candidate.unlink()
                    removed += 1
    if removed:
        _LOGGER.info("Removed %d temporary file(s) a crash left in %s", removed, folder)
    return removed


def check_writable_folder(path: Path, what: str = "state folder") -> None:
    """Create the folder if needed and write a probe file; raise StateDirUnwritable if not.

    Blocking. Run it at start, so an unusable folder is one clear error instead of a warning on
    every later write.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".vigil-probe-", suffix=".tmp", dir=path)
        os.close(fd)
        Path(name).unlink()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        if isinstance(err, FileExistsError | NotADirectoryError):
            reason = "it is not a folder"
        raise StateDirUnwritable(
            f"the {what} {path} cannot be written: {reason}",
            {"path": str(path), "reason": reason},
        ) from None


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries, so that a rename survives a power cut."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
