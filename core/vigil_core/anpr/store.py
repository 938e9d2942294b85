"""What is kept of plates, per privacy mode: counts, keyed hashes or text, crops, the audit log.

- ``watchlist``: a read that matches nothing is dropped right after matching; only the
  camera's count of passages is kept.
- ``hashed``: such reads are kept only as HMAC-SHA256 keyed hashes (per-installation secret),
  so "did AB-123-CD pass here yesterday?" can be answered only by someone who already knows
  the plate, and every such query is written to the audit log first.
- ``full``: plate text is kept (private premises, after an acknowledgement).

Every kept row has a creation time; `purge` deletes what the retention no longer allows and
the runtime calls it on a timer. Nothing here logs or raises with a plate in the message.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
import hashlib
import hmac
import io
import json
import os
from pathlib import Path
import secrets
import sqlite3
import threading
import time
from typing import Protocol
import uuid

import numpy as np
from PIL import Image

from vigil_core.errors import ConfigInvalid, VigilError
from vigil_core.plates.normalize import canonical, partners
from vigil_core.store.files import load_or_create_secret
from vigil_core.types import RGBImage

SECRET_FILE = "anpr_secret.key"
DATABASE_FILE = "anpr.sqlite3"
AUDIT_FILE = "anpr_audit.jsonl"
SECRET_BYTES = 32


class PrivacyMode(StrEnum):
    """What a camera keeps of plates that match no watchlist entry."""

    WATCHLIST = "watchlist"
    HASHED = "hashed"
    FULL = "full"


class QueryRefused(ConfigInvalid, ValueError):
    """A plate query without a stated requester or reason."""

    translation_key = "plate_query_refused"


class UnknownMatch(VigilError):
    """No watchlist match has this id (or retention removed it)."""

    translation_key = "unknown_match"


class MatchAlreadyReviewed(VigilError):
    """The match was confirmed or rejected already."""

    translation_key = "match_already_reviewed"


class MatchStatus(StrEnum):
    """Where a watchlist match stands: a read is a suspicion until an operator confirms it."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """A watchlist match as kept: the entry, where and when, the plate's keyed hash, its status.

    A rejected match loses its hash and its crop: it was someone else's plate.
    """

    match_id: str
    entry_id: str
    camera_id: str
    seen_at: float
    distance: float
    crop_id: str | None
    status: MatchStatus
    reviewed_at: float | None = None
    reviewed_by: str | None = None


@dataclass(frozen=True, slots=True)
class PlateRecords:
    """Everything kept about one plate in a time window (for an export or an erasure)."""

    sightings: list[Sighting]
    matches: list[MatchRecord]

    @property
    def crop_ids(self) -> list[str]:
        """Return the crops these records refer to."""
        ids = [s.crop_id for s in self.sightings if s.crop_id]
        return sorted({*ids, *(m.crop_id for m in self.matches if m.crop_id)})


def fold(text: str) -> str:
    """Return the form plates are hashed and looked up under: confusable letters as digits.

    A query for AB-123-CD then finds a passage read as A8-123-CD: the OCR's O/0 or B/8 choice
    must not decide whether someone who knows the plate finds it.
    """
    out = []
    for char in canonical(text):
        digit = next((p for p in partners(char) if p.isdigit()), None) if char.isalpha() else None
        out.append(digit or char)
    return "".join(out)


class PlateKeyer:
    """Keyed hashes of plates with a secret that never leaves the installation."""

    def __init__(self, secret: bytes) -> None:
        """Keep the secret (at least 16 bytes)."""
        if len(secret) < 16:
            raise ValueError("the plate hashing secret is too short")
        self._secret = secret

    @classmethod
    def load_or_create(cls, path: Path) -> PlateKeyer:
        """Read the secret file, or create it (owner-only) with fresh random bytes.

        Written whole before it gets its name: a crash leaves no empty secret behind, and an
        empty one left by an older version is replaced (nothing was ever hashed with it).
        """
        secret = load_or_create_secret(
            path, lambda: secrets.token_bytes(SECRET_BYTES), "plate hashing secret"
        )
        return cls(secret)

    def key(self, text: str) -> str:
        """Return the hex HMAC-SHA256 of the folded plate."""
        return hmac.new(self._secret, fold(text).encode("ascii"), hashlib.sha256).hexdigest()


# --- audit log ------------------------------------------------------------------------------

type AuditValue = str | int | float | None


class AuditLog(Protocol):
    """Where plate queries are recorded before they are answered."""

    def record_query(
        self, *, who: str, plate_hash: str, reason: str, details: Mapping[str, AuditValue]
    ) -> None:
        """Append one query (who, when, which plate hash, why) durably."""
        ...


class JsonlAuditLog:
    """Append-only JSON lines, fsynced per entry (swap for the hash-chained access log)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        """Write to `path` (created owner-only)."""
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()

    def record_query(
        self, *, who: str, plate_hash: str, reason: str, details: Mapping[str, AuditValue]
    ) -> None:
        """Append one query entry."""
        entry = {
            "at": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
            "action": "plate_query",
            "who": who,
            "plate_hash": plate_hash,
            "reason": reason,
            "details": dict(details),
        }
        line = (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def entries(self) -> list[dict[str, object]]:
        """Return every entry, oldest first."""
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


class MemoryAuditLog:
    """Audit entries in memory, for an engine without a state folder (and for tests)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """Start empty."""
        self._clock = clock
        self._entries: list[dict[str, object]] = []
        self._lock = threading.Lock()

    def record_query(
        self, *, who: str, plate_hash: str, reason: str, details: Mapping[str, AuditValue]
    ) -> None:
        """Append one query entry."""
        with self._lock:
            self._entries.append(
                {
                    "at": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
                    "action": "plate_query",
                    "who": who,
                    "plate_hash": plate_hash,
                    "reason": reason,
                    "details": dict(details),
                }
            )

    def entries(self) -> list[dict[str, object]]:
        """Return every entry, oldest first."""
        with self._lock:
            return list(self._entries)


# --- sightings ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sighting:
    """One kept passage of a plate: where, when, which way; the text only in full mode."""

    camera_id: str
    seen_at: float
    direction: str
    plate: str | None = None
    confidence: float | None = None
    crop_id: str | None = None

    def __repr__(self) -> str:
        """Keep the plate out of logs and tracebacks."""
        return f"Sighting(camera_id={self.camera_id!r}, seen_at={self.seen_at:.0f})"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS passages (camera_id TEXT, day TEXT, count INTEGER,
                                     PRIMARY KEY (camera_id, day));
CREATE TABLE IF NOT EXISTS hashed (plate_hash TEXT, camera_id TEXT, seen_at REAL, direction TEXT);
CREATE INDEX IF NOT EXISTS hashed_by_hash ON hashed (plate_hash);
CREATE INDEX IF NOT EXISTS hashed_by_time ON hashed (seen_at);
CREATE TABLE IF NOT EXISTS reads (plate TEXT, plate_hash TEXT, camera_id TEXT, seen_at REAL,
                                  confidence REAL, direction TEXT, crop_id TEXT);
CREATE INDEX IF NOT EXISTS reads_by_hash ON reads (plate_hash);
CREATE INDEX IF NOT EXISTS reads_by_time ON reads (seen_at);
CREATE TABLE IF NOT EXISTS matches (match_id TEXT PRIMARY KEY, entry_id TEXT, camera_id TEXT,
                                    seen_at REAL, plate_hash TEXT, distance REAL, crop_id TEXT,
                                    status TEXT, reviewed_at REAL, reviewed_by TEXT);
CREATE INDEX IF NOT EXISTS matches_by_hash ON matches (plate_hash);
CREATE INDEX IF NOT EXISTS matches_by_time ON matches (seen_at);
"""


class PlateStore:
    """Passage counts, hashed sightings and full-mode reads in one SQLite file (thread-safe)."""

    def __init__(
        self,
        path: Path | None,
        keyer: PlateKeyer,
        audit: AuditLog,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (or create) the database; None keeps everything in memory."""
        self.keyer = keyer
        self.audit = audit
        self._clock = clock
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        if path is not None:
            path.chmod(0o600)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # Writing ----------------------------------------------------------------------------------

    def count_passage(self, camera_id: str, at: float) -> int:
        """Add one plate passage to the camera's count of the day; return that count."""
        day = datetime.fromtimestamp(at, UTC).date().isoformat()
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO passages VALUES (?, ?, 1) ON CONFLICT (camera_id, day) "
                "DO UPDATE SET count = count + 1",
                (camera_id, day),
            )
            row = self._db.execute(
                "SELECT count FROM passages WHERE camera_id = ? AND day = ?", (camera_id, day)
            ).fetchone()
        return int(row[0])

    def passages(self, camera_id: str, day: str | None = None) -> int:
        """Return the camera's passages on a UTC day (default today), or in all when day is ''."""
        query = "SELECT COALESCE(SUM(count), 0) FROM passages WHERE camera_id = ?"
        args: tuple[str, ...] = (camera_id,)
        if day != "":
            query += " AND day = ?"
            args = (camera_id, day or datetime.fromtimestamp(self._clock(), UTC).date().isoformat())
        with self._lock:
            return int(self._db.execute(query, args).fetchone()[0])

    def add_hashed(self, camera_id: str, plate: str, at: float, direction: str) -> None:
        """Keep a sighting as a keyed hash only."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO hashed VALUES (?, ?, ?, ?)",
                (self.keyer.key(plate), camera_id, at, direction),
            )

    def add_read(
        self,
        camera_id: str,
        plate: str,
        at: float,
        *,
        confidence: float,
        direction: str,
        crop_id: str | None,
    ) -> None:
        """Keep a full-mode read with its text."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO reads VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    canonical(plate),
                    self.keyer.key(plate),
                    camera_id,
                    at,
                    confidence,
                    direction,
                    crop_id,
                ),
            )

    def forget_camera(self, camera_id: str, keep: PrivacyMode) -> int:
        """Delete what a camera's current mode no longer allows (after a mode change)."""
        removed = 0
        with self._lock, self._db:
            if keep is not PrivacyMode.FULL:
                removed += self._db.execute(
                    "DELETE FROM reads WHERE camera_id = ?", (camera_id,)
                ).rowcount
            if keep is PrivacyMode.WATCHLIST:
                removed += self._db.execute(
                    "DELETE FROM hashed WHERE camera_id = ?", (camera_id,)
                ).rowcount
        return removed

    # Reading ----------------------------------------------------------------------------------

    def query(
        self,
        plate: str,
        *,
        who: str,
        reason: str,
        since: float | None = None,
        until: float | None = None,
        camera_id: str | None = None,
        details: Mapping[str, AuditValue] | None = None,
    ) -> list[Sighting]:
        """Return the kept sightings of a plate; the query is audited before it runs.

        Hashed sightings carry no text; full-mode reads carry the canonical plate. `details`
        adds to the audit entry (the legal basis, the user id).
        """
        if not who.strip() or not reason.strip():
            raise QueryRefused("a plate query needs who asks and the stated reason")
        plate_hash = self.keyer.key(plate)
        self.audit.record_query(
            who=who.strip(),
            plate_hash=plate_hash,
            reason=reason.strip(),
            details={"camera_id": camera_id, "since": since, "until": until, **(details or {})},
        )
        where = "plate_hash = ? AND seen_at >= ? AND seen_at <= ?"
        args: list[object] = [
            plate_hash,
            since if since is not None else 0.0,
            until if until is not None else 1e18,
        ]
        if camera_id is not None:
            where += " AND camera_id = ?"
            args.append(camera_id)
        with self._lock:
            hashed = self._db.execute(
                f"SELECT camera_id, seen_at, direction FROM hashed WHERE {where}",
                args,
            ).fetchall()
            reads = self._db.execute(
                f"SELECT camera_id, seen_at, direction, plate FROM reads WHERE {where}",
                args,
            ).fetchall()
        out = [Sighting(row[0], float(row[1]), str(row[2])) for row in hashed]
        out += [Sighting(row[0], float(row[1]), str(row[2]), str(row[3])) for row in reads]
        return sorted(out, key=lambda s: s.seen_at)

    # Watchlist matches -----------------------------------------------------------------------

    def add_match(
        self,
        *,
        match_id: str,
        entry_id: str,
        camera_id: str,
        plate: str,
        at: float,
        distance: float,
        crop_id: str | None,
    ) -> None:
        """Keep a new watchlist match as pending (the plate only as its keyed hash)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO matches VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                (
                    match_id,
                    entry_id,
                    camera_id,
                    at,
                    self.keyer.key(plate),
                    distance,
                    crop_id,
                    MatchStatus.PENDING.value,
                ),
            )

    def match(self, match_id: str) -> MatchRecord:
        """Return a kept match (UnknownMatch when there is none)."""
        with self._lock:
            row = self._db.execute(f"{_MATCH_SELECT} WHERE match_id = ?", (match_id,)).fetchone()
        if row is None:
            raise UnknownMatch("no watchlist match has this id")
        return _match_record(row)

    def review(self, match_id: str, status: MatchStatus, *, by: str, at: float) -> MatchRecord:
        """Confirm or reject a pending match; a rejected one loses its plate hash and crop."""
        if status is MatchStatus.PENDING:
            raise ValueError("a review confirms or rejects")
        current = self.match(match_id)
        if current.status is not MatchStatus.PENDING:
            raise MatchAlreadyReviewed(f"this match was {current.status.value} already")
        rejected = status is MatchStatus.REJECTED
        with self._lock, self._db:
            self._db.execute(
                "UPDATE matches SET status = ?, reviewed_at = ?, reviewed_by = ?"
                + (", plate_hash = NULL, crop_id = NULL" if rejected else "")
                + " WHERE match_id = ?",
                (status.value, at, by, match_id),
            )
        return self.match(match_id)

    def matches(self, status: MatchStatus | None = None, limit: int = 100) -> list[MatchRecord]:
        """Return the latest matches (of one status), newest first."""
        where, args = ("WHERE status = ?", (status.value,)) if status else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"{_MATCH_SELECT} {where} ORDER BY seen_at DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [_match_record(row) for row in rows]

    def purge_matches(self, before: float) -> int:
        """Delete matches older than `before` (Unix time)."""
        with self._lock, self._db:
            return int(
                self._db.execute("DELETE FROM matches WHERE seen_at < ?", (before,)).rowcount
            )

    # Rights: access and erasure ----------------------------------------------------------------

    def records(
        self,
        plate: str,
        *,
        since: float | None = None,
        until: float | None = None,
        camera_id: str | None = None,
    ) -> PlateRecords:
        """Return every kept sighting and match of a plate in a window (not audited here)."""
        where, args = self._window(plate, since, until, camera_id)
        with self._lock:
            hashed = self._db.execute(
                f"SELECT camera_id, seen_at, direction FROM hashed WHERE {where}", args
            ).fetchall()
            reads = self._db.execute(
                "SELECT camera_id, seen_at, direction, plate, confidence, crop_id FROM reads "
                f"WHERE {where}",
                args,
            ).fetchall()
            matches = self._db.execute(f"{_MATCH_SELECT} WHERE {where}", args).fetchall()
        sightings = [Sighting(r[0], float(r[1]), str(r[2])) for r in hashed]
        sightings += [
            Sighting(r[0], float(r[1]), str(r[2]), str(r[3]), float(r[4]), r[5]) for r in reads
        ]
        return PlateRecords(
            sorted(sightings, key=lambda s: s.seen_at),
            sorted((_match_record(r) for r in matches), key=lambda m: m.seen_at),
        )

    def erase(
        self,
        plate: str,
        *,
        since: float | None = None,
        until: float | None = None,
        camera_id: str | None = None,
    ) -> dict[str, int]:
        """Delete every kept sighting and match of a plate in a window; return counts per table."""
        where, args = self._window(plate, since, until, camera_id)
        with self._lock, self._db:
            return {
                table: int(self._db.execute(f"DELETE FROM {table} WHERE {where}", args).rowcount)
                for table in ("hashed", "reads", "matches")
            }

    def _window(
        self, plate: str, since: float | None, until: float | None, camera_id: str | None
    ) -> tuple[str, list[object]]:
        where = "plate_hash = ? AND seen_at >= ? AND seen_at <= ?"
        args: list[object] = [
            self.keyer.key(plate),
            since if since is not None else 0.0,
            until if until is not None else 1e18,
        ]
        if camera_id is not None:
            where += " AND camera_id = ?"
            args.append(camera_id)
        return where, args

    def recent_reads(self, camera_id: str, limit: int = 20) -> list[Sighting]:
        """Return a camera's latest full-mode reads (text included), newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT camera_id, seen_at, direction, plate FROM reads WHERE camera_id = ? "
                "ORDER BY seen_at DESC LIMIT ?",
                (camera_id, limit),
            ).fetchall()
        return [Sighting(r[0], float(r[1]), str(r[2]), str(r[3])) for r in rows]

    def counts(self) -> dict[str, int]:
        """Return how many rows each table holds (diagnostics: numbers only)."""
        with self._lock:
            return {
                table: int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                for table in ("passages", "hashed", "reads", "matches")
            }

    # Retention --------------------------------------------------------------------------------

    def purge_hashed(self, before: float) -> int:
        """Delete hashed sightings older than `before` (Unix time)."""
        with self._lock, self._db:
            return int(self._db.execute("DELETE FROM hashed WHERE seen_at < ?", (before,)).rowcount)

    def purge_reads(self, before: float) -> int:
        """Delete full-mode reads older than `before` (Unix time)."""
        with self._lock, self._db:
            return int(self._db.execute("DELETE FROM reads WHERE seen_at < ?", (before,)).rowcount)

    def purge_passages(self, before: float) -> int:
        """Delete daily passage counts of days before `before` (Unix time)."""
        day = datetime.fromtimestamp(before, UTC).date().isoformat()
        with self._lock, self._db:
            return int(self._db.execute("DELETE FROM passages WHERE day < ?", (day,)).rowcount)


_MATCH_SELECT = (
    "SELECT match_id, entry_id, camera_id, seen_at, distance, crop_id, status, reviewed_at, "
    "reviewed_by FROM matches"
)


def _match_record(row: tuple[object, ...]) -> MatchRecord:
    reviewed_at = row[7]
    return MatchRecord(
        match_id=str(row[0]),
        entry_id=str(row[1]),
        camera_id=str(row[2]),
        seen_at=float(row[3]),  # type: ignore[arg-type]
        distance=float(row[4]),  # type: ignore[arg-type]
        crop_id=str(row[5]) if row[5] else None,
        status=MatchStatus(str(row[6])),
        reviewed_at=float(reviewed_at) if isinstance(reviewed_at, int | float) else None,
        reviewed_by=str(row[8]) if row[8] is not None else None,
    )


# --- crops ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredCrop:
    """A JPEG plate crop kept for a watchlist match (or a full-mode read)."""

    jpeg: bytes
    camera_id: str
    created_at: float


class CropStore:
    """Plate crops in memory, by id, purged by age and bounded in number."""

    def __init__(self, max_items: int = 200) -> None:
        """Keep at most `max_items` crops (the oldest go first)."""
        self._items: OrderedDict[str, StoredCrop] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()

    def put(self, image: RGBImage, camera_id: str, at: float) -> str:
        """Encode and keep a crop; return its id."""
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="JPEG", quality=90)
        crop_id = uuid.uuid4().hex
        with self._lock:
            self._items[crop_id] = StoredCrop(buffer.getvalue(), camera_id, at)
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return crop_id

    def get(self, crop_id: str) -> StoredCrop | None:
        """Return a kept crop, or None when it is unknown or purged."""
        with self._lock:
            return self._items.get(crop_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def purge(self, before: float) -> int:
        """Delete crops created before `before` (Unix time)."""
        with self._lock:
            old = [key for key, crop in self._items.items() if crop.created_at < before]
            for key in old:
                del self._items[key]
        return len(old)

    def remove(self, crop_ids: list[str]) -> int:
        """Delete the given crops (an erasure); return how many were kept."""
        with self._lock:
            found = [key for key in crop_ids if key in self._items]
            for key in found:
                del self._items[key]
        return len(found)

    def forget_camera(self, camera_id: str) -> int:
        """Delete every crop of one camera."""
        with self._lock:
            old = [key for key, crop in self._items.items() if crop.camera_id == camera_id]
            for key in old:
                del self._items[key]
        return len(old)
