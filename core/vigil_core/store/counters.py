"""Line-crossing totals per camera, rule, class and direction, persisted as a small JSON file.

Totals must survive Home Assistant restarts, so every change is written at once with an
atomic replace (write a temporary file, fsync, rename): a crash leaves the old file or the
new one, never half of one. Crossings are rare events (a few per second at most), so writing
on each is cheap. Without a path the store lives in memory only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
import tempfile
import threading

from .files import remove_stale_temp_files

_LOGGER = logging.getLogger(__name__)

VERSION = 1
FILE_NAME = "counters.json"
TEMP_PREFIX = ".counters-"

type Totals = dict[str, dict[str, int]]
"""Counts by class, then by direction."""


class CounterStore:
    """Thread-safe counts keyed by camera / rule / class / direction."""

    def __init__(self, path: Path | None = None) -> None:
        """Load the totals saved at `path`, if any; a damaged file starts from zero (logged)."""
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Totals]] = {}
        if path is not None:
            self._data = _load(path)
            remove_stale_temp_files(path.parent, f"{TEMP_PREFIX}*.tmp")

    @classmethod
    def in_dir(cls, state_dir: str | Path | None) -> CounterStore:
        """Return a store persisted in `state_dir/counters.json`, or in memory when it is None."""
        return cls(Path(state_dir) / FILE_NAME if state_dir else None)

    def totals(self, camera_id: str, rule_id: str) -> Totals:
        """Return a copy of one rule's counts by class and direction."""
        with self._lock:
            rule = self._data.get(camera_id, {}).get(rule_id, {})
            return {label: dict(directions) for label, directions in rule.items()}

    def add(self, camera_id: str, rule_id: str, label: str, direction: str, amount: int = 1) -> int:
        """Add to one count, save, and return the new value."""
        with self._lock:
            rule = self._data.setdefault(camera_id, {}).setdefault(rule_id, {})
            directions = rule.setdefault(label, {})
            directions[direction] = directions.get(direction, 0) + amount
            value = directions[direction]
            self._save()
        return value

    def reset(self, camera_id: str, rule_id: str) -> None:
        """Set one rule's counts back to zero and save."""
        with self._lock:
            camera = self._data.get(camera_id)
            if camera is not None and camera.pop(rule_id, None) is not None:
                if not camera:
                    del self._data[camera_id]
                self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        payload = json.dumps({"version": VERSION, "counters": self._data}, indent=1, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(payload)
                    handle.flush()
                    os.fsync(handle.fileno())
                Path(tmp).replace(self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    Path(tmp).unlink()
                raise
        except OSError as err:
            # Counting goes on in memory; the next successful write carries every total.
            _LOGGER.warning("Could not save line counters to %s: %s", self.path, err)


def _load(path: Path) -> dict[str, dict[str, Totals]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        _LOGGER.warning("Line counters in %s are unreadable, starting from zero: %s", path, err)
        return {}
    counters = raw.get("counters") if isinstance(raw, dict) else None
    if not isinstance(counters, dict):
        _LOGGER.warning("Line counters in %s have no 'counters' mapping, starting from zero", path)
        return {}
    data: dict[str, dict[str, Totals]] = {}
    for camera_id, rules in counters.items():
        if not isinstance(rules, dict):
            continue
        for rule_id, labels in rules.items():
            if not isinstance(labels, dict):
                continue
            for label, directions in labels.items():
                if not isinstance(directions, dict):
                    continue
                clean = {
                    str(d): int(n) for d, n in directions.items() if isinstance(n, int) and n >= 0
                }
                data.setdefault(str(camera_id), {}).setdefault(str(rule_id), {})[str(label)] = clean
    return data
