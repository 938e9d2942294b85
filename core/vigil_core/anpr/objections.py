"""The objection list: plates whose keepers objected, never hashed, stored or matched again.

A keeper exercising the right to object (GDPR article 21) gives the plate; Vigil keeps only
its keyed hash (the installation's secret, confusables folded) with an id, a date and the
reason, in ``anpr_objections.json`` beside the plate store in the server's data folder. Each
read is compared with the list in memory: an objected plate is counted as a passage (a number,
no plate) and otherwise dropped, and it matches only watchlist entries marked as a legal
obligation (article 21 does not stand against those).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import json
import logging
from pathlib import Path
import threading
import uuid

from vigil_core.anpr.store import PlateKeyer
from vigil_core.errors import VigilError
from vigil_core.store.files import write_atomically

_LOGGER = logging.getLogger(__name__)

OBJECTIONS_FILE = "anpr_objections.json"


class UnknownObjection(VigilError):
    """No objection has this id."""

    translation_key = "unknown_objection"


@dataclass(frozen=True, slots=True)
class Objection:
    """One objection: an id, the keyed hash of the plate, when and why (never the plate)."""

    objection_id: str
    plate_hash: str
    added_at: float
    reason: str

    def __repr__(self) -> str:
        """Keep even the hash out of logs."""
        return f"Objection(objection_id={self.objection_id!r})"


class ObjectionList:
    """The objection list, persisted as JSON (owner-only) or held in memory without a folder."""

    def __init__(self, path: Path | None, keyer: PlateKeyer) -> None:
        """Read the list from `path` (None: in memory)."""
        self.path = path
        self._keyer = keyer
        self._lock = threading.Lock()
        self._items: dict[str, Objection] = {o.objection_id: o for o in self._read()}
        self._hashes = {o.plate_hash for o in self._items.values()}

    def _read(self) -> list[Objection]:
        if self.path is None or not self.path.is_file():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [Objection(**item) for item in data.get("objections", [])]
        except (OSError, ValueError, TypeError) as err:
            # Refuse to run as if nobody objected: an unreadable list stops plate reading.
            raise VigilError(f"the plate objection list cannot be read: {err}") from None

    def _write(self) -> None:
        if self.path is None:
            return
        data = {"objections": [asdict(item) for item in self._items.values()]}
        write_atomically(self.path, json.dumps(data, sort_keys=True, indent=1).encode("utf-8"))

    def covers(self, plate: str) -> bool:
        """Return whether a read plate is on the list (the hash is computed, never kept)."""
        if not self._hashes:
            return False
        return self._keyer.key(plate) in self._hashes

    def add(self, plate: str, reason: str, at: float) -> tuple[Objection, bool]:
        """Put a plate on the list; return its objection and whether it is new."""
        plate_hash = self._keyer.key(plate)
        with self._lock:
            for item in self._items.values():
                if item.plate_hash == plate_hash:
                    return item, False
            item = Objection(uuid.uuid4().hex, plate_hash, at, reason.strip())
            self._items[item.objection_id] = item
            self._hashes.add(plate_hash)
            self._write()
        return item, True

    def remove(self, objection_id: str) -> Objection:
        """Take an objection off the list (the keeper withdrew it)."""
        with self._lock:
            item = self._items.pop(objection_id, None)
            if item is None:
                raise UnknownObjection("no objection has this id")
            self._hashes = {o.plate_hash for o in self._items.values()}
            self._write()
        return item

    def items(self) -> list[Objection]:
        """Return every objection, oldest first."""
        with self._lock:
            return sorted(self._items.values(), key=lambda o: o.added_at)

    def __len__(self) -> int:
        return len(self._items)
