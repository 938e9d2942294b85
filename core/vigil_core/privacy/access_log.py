"""The access log: an append-only, keyed chain of who looked at or changed what, and why.

One JSON object per line. Each entry holds the `hash` of the previous one (`prev`) and its own:
HMAC-SHA256, with the log's secret key, of the canonical JSON of every other field. Changing,
removing or reordering a line breaks the chain at that line, and without the key nobody can
write a line that verifies (a plain hash could be recomputed by anyone after an edit).

Lines removed at the end leave a chain that is still whole, so the log's *head* — how many
entries were ever written and the last one's hash, signed with the key — is also written to a
separate file after each append (atomically, after the line itself). Verification checks that
the log still reaches that head, and returns it so that an operator can keep a copy elsewhere
(`Verification.witness`, checked again with `verify(witness=...)`): whoever holds the key can
rewrite the log and its head together, and only a copy kept away from both shows it.

The log has a retention too, so old entries must go without breaking verification. A purge
rewrites the file as an *anchor* line — the sequence number and hash of the last entry removed,
signed with the log's secret key (HMAC-SHA256) — followed by the entries kept, whose chain
continues from that hash; then it appends a chained `purge` entry that repeats the anchor's
values. Verification starts from the anchor, checks its signature (with the key) and that a
`purge` entry confirms it, so forging a purge needs both the key and a rewrite of every later
entry. A purge never runs on a broken chain: it would launder the evidence.

Appends and purges take an exclusive `flock` on a sibling lock file and a thread lock, so
several threads and processes may write the same log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
import hashlib
import hmac
import json
import os
from pathlib import Path
import secrets
import tempfile
import threading
from typing import Any

from vigil_core.store.files import load_or_create_secret, write_atomically
from vigil_protocol.privacy import Artefact

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: threads only
    fcntl = None  # type: ignore[assignment]

GENESIS = "0" * 64
FORMAT = "vigil-access-log/2"
HEAD_FORMAT = "vigil-access-log-head/1"
KEY_BYTES = 32
HASH_RULE = (
    "hex HMAC-SHA256, with the log's key, of the canonical JSON (sorted keys, no spaces, UTF-8) "
    "of every field but 'hash'; 'prev' is the previous entry's hash (or the anchor's)"
)

type Json = str | int | float | bool | list[Json] | dict[str, Json] | None


class AccessAction(StrEnum):
    """What an entry records."""

    SNAPSHOT_VIEW = "snapshot_view"
    CROP_VIEW = "crop_view"
    PLATE_QUERY = "plate_query"
    WATCHLIST_ADD = "watchlist_add"
    WATCHLIST_REMOVE = "watchlist_remove"
    WATCHLIST_CHANGE = "watchlist_change"
    CONTEXT_CHANGE = "context_change"
    RETENTION_CHANGE = "retention_change"
    PAPERWORK_CHANGE = "paperwork_change"
    ACKNOWLEDGEMENT = "acknowledgement"
    LOG_VERIFY = "log_verify"
    LOG_EXPORT = "log_export"
    ASSESSMENT = "assessment"
    PURGE = "purge"
    MATCH_CONFIRM = "match_confirm"
    MATCH_REJECT = "match_reject"
    PLATE_EXPORT = "plate_export"
    PLATE_ERASE = "plate_erase"
    OBJECTION_ADD = "objection_add"
    OBJECTION_REMOVE = "objection_remove"


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who acted: a Home Assistant user (id and name), or Vigil itself."""

    user_id: str | None
    name: str
    is_admin: bool | None = False
    """None when the caller did not say (the plate store's `who` is only a name)."""

    def as_dict(self) -> dict[str, Json]:
        """Return the JSON form."""
        return {"user_id": self.user_id, "name": self.name, "is_admin": self.is_admin}


SYSTEM = Actor(user_id=None, name="vigil", is_admin=True)
"""Vigil's own actions (purges)."""


class AccessLogError(Exception):
    """The log cannot be written or read: appending refuses rather than write after damage."""


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of checking the chain."""

    ok: bool
    entries: int
    """Entries checked (the anchor excluded)."""
    first_broken: int | None = None
    """Sequence number (or, for an unreadable line, the expected one) of the first bad entry."""
    line: int | None = None
    """1-based line of the first bad entry."""
    reason: str = ""
    head: str = GENESIS
    """Hash of the last valid entry: write it down elsewhere, with `count`, as a witness."""
    anchor: Mapping[str, Json] | None = None
    anchor_signature_checked: bool = False
    count: int = 0
    """Entries ever written (purged ones included): the next entry's sequence number."""
    anchored: bool = False
    """The head file exists, is signed with the key and the log reaches it."""

    @property
    def witness(self) -> dict[str, Json]:
        """Return the head to keep elsewhere and pass back to `AccessLog.verify` later."""
        return {"count": self.count, "hash": self.head}

    def as_dict(self) -> dict[str, Json]:
        """Return the JSON form."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "count": self.count,
            "first_broken": self.first_broken,
            "line": self.line,
            "reason": self.reason,
            "head": self.head,
            "anchored": self.anchored,
            "anchor": dict(self.anchor) if self.anchor is not None else None,
            "anchor_signature_checked": self.anchor_signature_checked,
        }


@dataclass(frozen=True, slots=True)
class ExportResult:
    """Where an export went and what it held."""

    path: Path
    entries: int
    verification: Verification


def canonical(data: Mapping[str, Any]) -> bytes:
    """Return the canonical JSON bytes of a mapping: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any], key: bytes) -> str:
    """Return the HMAC-SHA256, with the log's key, of an entry's fields other than `hash`."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hmac.new(key, canonical(body), hashlib.sha256).hexdigest()


def _sign(key: bytes, anchor: Mapping[str, Any]) -> str:
    body = {k: v for k, v in anchor.items() if k != "signature"}
    return hmac.new(key, canonical(body), hashlib.sha256).hexdigest()


def load_or_create_key(path: Path) -> bytes:
    """Return the log's secret key from `path`, creating it (mode 0600) the first time.

    The file is written whole before it gets its name (store/files.py): a crash while creating
    it leaves no empty key behind, and an empty one left by an older version is replaced.
    """
    text = load_or_create_secret(
        path, lambda: secrets.token_bytes(KEY_BYTES).hex().encode(), "access log key"
    )
    try:
        key = bytes.fromhex(text.decode("ascii").strip())
    except ValueError as err:  # UnicodeDecodeError included
        raise AccessLogError(f"the access log key in {path.name} is not hexadecimal") from err
    if len(key) < 16:
        raise AccessLogError(f"the access log key in {path.name} is too short")
    return key


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class AccessLog:
    """An append-only, keyed-chain JSON-lines log at `path` (thread- and process-safe)."""

    path: Path
    key: bytes = field(repr=False)
    """Keys every entry's hash, and signs the head and the purge anchors."""
    clock: Callable[[], datetime] = field(default=_now, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    artefact = Artefact.ACCESS_LOG
    name = "access_log"

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise AccessLogError("the access log key is too short")

    @property
    def head_path(self) -> Path:
        """Return the file that records the log's head (beside the log)."""
        return self.path.with_name(f"{self.path.stem}.head.json")

    def entry_hash(self, entry: Mapping[str, Any]) -> str:
        """Return an entry's keyed hash."""
        return entry_hash(entry, self.key)

    # Writing -----------------------------------------------------------------------------

    def append(
        self,
        actor: Actor,
        action: AccessAction | str,
        *,
        target: str = "",
        reason: str = "",
        details: Mapping[str, Json] | None = None,
    ) -> dict[str, Json]:
        """Chain one entry to the log and return it (blocking: fsyncs before returning)."""
        with self._locked():
            return self._append(actor, AccessAction(action), target, reason, dict(details or {}))

    def _append(
        self,
        actor: Actor,
        action: AccessAction,
        target: str,
        reason: str,
        details: dict[str, Json],
    ) -> dict[str, Json]:
        seq, prev = self._tail()
        entry: dict[str, Json] = {
            "seq": seq,
            "at": self.clock().astimezone(UTC).isoformat(),
            "actor": actor.as_dict(),
            "action": action.value,
            "target": target,
            "reason": reason,
            "details": details,
            "prev": prev,
        }
        entry["hash"] = self.entry_hash(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, canonical(entry) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        # After the line: a crash in between leaves the head one entry behind, which
        # verification accepts (that entry carries a valid keyed hash), never ahead.
        self._write_head(seq + 1, str(entry["hash"]))
        return entry

    def _write_head(self, count: int, last: str) -> None:
        head: dict[str, Json] = {
            "format": HEAD_FORMAT,
            "count": count,
            "hash": last,
            "at": self.clock().astimezone(UTC).isoformat(),
        }
        head["signature"] = _sign(self.key, head)
        write_atomically(self.head_path, canonical(head) + b"\n")

    def read_head(self) -> dict[str, Any] | None:
        """Return the head file's content (None when there is none); AccessLogError if damaged."""
        try:
            head = json.loads(self.head_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise AccessLogError("the head file cannot be read") from err
        if not isinstance(head, dict) or set(head) != _HEAD_KEYS:
            raise AccessLogError("the head file cannot be read")
        if not hmac.compare_digest(str(head["signature"]), _sign(self.key, head)):
            raise AccessLogError("the head file does not match its signature")
        if not isinstance(head["count"], int) or head["count"] < 0:
            raise AccessLogError("the head file cannot be read")
        return head

    def _tail(self) -> tuple[int, str]:
        """Return the next sequence number and the hash the next entry chains to."""
        last = _last_line(self.path)
        if last is None:
            return 0, GENESIS
        try:
            record = json.loads(last)
            if "anchor" in record:
                return int(record["anchor"]["seq"]) + 1, str(record["anchor"]["hash"])
            return int(record["seq"]) + 1, str(record["hash"])
        except (ValueError, KeyError, TypeError) as err:
            raise AccessLogError(
                "the access log's last line is damaged; verify the log before writing to it"
            ) from err

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.path.with_name(self.path.name + ".lock")
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def record_query(
        self,
        *,
        who: str,
        plate_hash: str,
        reason: str,
        details: Mapping[str, str | int | float | None],
    ) -> None:
        """Record a plate query: the ANPR store's `AuditLog`, backed by this chained log."""
        self.append(
            Actor(user_id=None, name=who, is_admin=None),
            AccessAction.PLATE_QUERY,
            target=plate_hash,
            reason=reason,
            details=dict(details),
        )

    # Reading -----------------------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        """Yield every line as parsed JSON (the anchor included); raise on an unreadable line."""
        for _number, line in self._lines():
            yield json.loads(line)

    def entries(self) -> list[dict[str, Any]]:
        """Return every entry (the anchor left out)."""
        return [record for record in self.records() if "anchor" not in record]

    def _lines(self) -> Iterator[tuple[int, str]]:
        try:
            handle = self.path.open(encoding="utf-8")
        except FileNotFoundError:
            return
        with handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line.rstrip("\n")

    def verify(self, witness: Mapping[str, Any] | None = None) -> Verification:
        """Check the chain, the purge anchor and that the log still reaches its head.

        Every entry's keyed hash and link to the previous one are checked; the log must reach
        the head file's count and hash, and `witness` (a head kept elsewhere) when given.
        """
        with self._lock:
            return self._verify(witness)

    def _verify(self, witness: Mapping[str, Any] | None = None) -> Verification:
        expected_seq, prev = 0, GENESIS
        anchor: dict[str, Any] | None = None
        signed = False
        count = 0
        purges: list[dict[str, Any]] = []
        hashes: dict[int, str] = {}

        def broken(line: int | None, reason: str) -> Verification:
            return Verification(
                False, count, expected_seq, line, reason, prev, anchor, signed, expected_seq
            )

        for number, line in self._lines():
            try:
                record = json.loads(line)
            except ValueError:
                return broken(number, "unreadable line")
            if not isinstance(record, dict):
                return broken(number, "unreadable line")
            if "anchor" in record:
                if number != 1 or anchor is not None:
                    return broken(number, "anchor not at the start of the log")
                anchor = record["anchor"]
                if not isinstance(anchor, dict) or not _anchor_ok(anchor):
                    return broken(number, "malformed anchor")
                if not hmac.compare_digest(str(anchor["signature"]), _sign(self.key, anchor)):
                    return broken(number, "anchor signature does not match")
                signed = True
                expected_seq, prev = int(anchor["seq"]) + 1, str(anchor["hash"])
                hashes[int(anchor["seq"])] = prev
                continue
            problem = _entry_problem(record, expected_seq, prev, self.key)
            if problem:
                return broken(number, problem)
            if record["action"] == AccessAction.PURGE.value:
                purges.append(record)
            count += 1
            expected_seq, prev = record["seq"] + 1, record["hash"]
            hashes[expected_seq - 1] = prev
        if anchor is not None and not any(_confirms(entry, anchor) for entry in purges):
            return Verification(
                False, count, None, 1, "no purge entry confirms the anchor", prev, anchor, signed
            )
        try:
            head = self.read_head()
        except AccessLogError as err:
            return broken(None, str(err))
        if head is None and expected_seq > 0:
            return broken(None, "the head file is missing: entries may have been removed")
        for reached in (head, witness):
            problem = _head_problem(reached, expected_seq, hashes)
            if problem:
                return broken(None, problem)
        return Verification(
            True, count, None, None, "", prev, anchor, signed, expected_seq, head is not None
        )

    # Retention ---------------------------------------------------------------------------

    def purge(self, before: datetime) -> int:
        """Remove the entries written before `before`, keeping the chain verifiable (blocking).

        Refuses (AccessLogError) when the chain is already broken, so a purge cannot hide a
        tampered entry.
        """
        with self._locked():
            check = self._verify()
            if not check.ok:
                raise AccessLogError(
                    f"the access log is broken at entry {check.first_broken} ({check.reason}); "
                    "not purging it"
                )
            records = list(self.records())
            start = 1 if records and "anchor" in records[0] else 0
            previous = records[0]["anchor"] if start else None
            removed = 0
            for record in records[start:]:
                if datetime.fromisoformat(record["at"]) >= before:
                    break
                removed += 1
            if removed == 0:
                return 0
            last = records[start + removed - 1]
            anchor: dict[str, Json] = {
                "seq": last["seq"],
                "hash": last["hash"],
                "purged": removed + (int(previous["purged"]) if previous else 0),
                "before": before.astimezone(UTC).isoformat(),
                "at": self.clock().astimezone(UTC).isoformat(),
            }
            anchor["signature"] = _sign(self.key, anchor) if self.key is not None else ""
            kept = [canonical(r) for r in records[start + removed :]]
            _replace(self.path, [canonical({"anchor": anchor}), *kept])
            self._append(
                SYSTEM,
                AccessAction.PURGE,
                target="access_log",
                reason="retention",
                details={
                    "removed": removed,
                    "through_seq": anchor["seq"],
                    "through_hash": anchor["hash"],
                    "before": anchor["before"],
                },
            )
            return removed

    # Export ------------------------------------------------------------------------------

    def export(self, destination: Path) -> ExportResult:
        """Write the log, its anchor and its verification to one JSON file (blocking)."""
        with self._locked():
            check = self._verify()
            records = [_parse_or_keep(line) for _number, line in self._lines()]
        anchor = records[0]["anchor"] if records and "anchor" in records[0] else None
        entries = [r for r in records if "anchor" not in r]
        document = {
            "format": FORMAT,
            "exported_at": self.clock().astimezone(UTC).isoformat(),
            "hash_rule": HASH_RULE,
            "verification": check.as_dict(),
            "head": check.witness,
            "anchor": anchor,
            "entries": entries,
        }
        destination.parent.mkdir(parents=True, exist_ok=True)
        _replace(destination, [json.dumps(document, indent=1, ensure_ascii=False).encode()])
        return ExportResult(destination, len(entries), check)


def verify_entries(
    entries: list[Mapping[str, Any]], key: bytes, start_prev: str = GENESIS
) -> int | None:
    """Return the index of the first entry of an exported list that breaks the chain, or None.

    Checking the keyed hashes needs the log's key.
    """
    if not entries:
        return None
    expected_seq, prev = int(entries[0].get("seq", 0)), start_prev
    for index, entry in enumerate(entries):
        if _entry_problem(entry, expected_seq, prev, key):
            return index
        expected_seq, prev = int(entry["seq"]) + 1, str(entry["hash"])
    return None


_ENTRY_KEYS = frozenset(
    {"seq", "at", "actor", "action", "target", "reason", "details", "prev", "hash"}
)
_ANCHOR_KEYS = frozenset({"seq", "hash", "purged", "before", "at", "signature"})
_HEAD_KEYS = frozenset({"format", "count", "hash", "at", "signature"})


def _entry_problem(record: Mapping[str, Any], expected_seq: int, prev: str, key: bytes) -> str:
    if set(record) != _ENTRY_KEYS:
        return "unexpected or missing fields"
    if record["seq"] != expected_seq:
        return f"sequence number {record['seq']} where {expected_seq} was expected"
    if record["prev"] != prev:
        return "not chained to the previous entry"
    if not hmac.compare_digest(str(record["hash"]), entry_hash(record, key)):
        return "content does not match its hash"
    return ""


def _head_problem(head: Mapping[str, Any] | None, reached: int, hashes: Mapping[int, str]) -> str:
    """Return why the log does not reach a recorded head (`reached`: entries ever written)."""
    if head is None:
        return ""
    try:
        count, last = int(head["count"]), str(head["hash"])
    except (KeyError, TypeError, ValueError):
        return "the head to check against cannot be read"
    if count > reached:
        if reached == 0:
            return f"the log holds no entry but its head records {count}: all removed from its end"
        return (
            f"the log ends at entry {reached - 1} but its head records {count} entries: "
            f"{count - reached} removed from its end"
        )
    # An entry older than the last purge is gone for good; any other must be the one recorded.
    if count > 0 and count - 1 in hashes and hashes[count - 1] != last:
        return f"entry {count - 1} is not the one the head records"
    return ""


def _parse_or_keep(line: str) -> dict[str, Any]:
    """Parse a line; keep an unreadable one verbatim so an export hides nothing."""
    try:
        record = json.loads(line)
    except ValueError:
        return {"unreadable": line}
    return record if isinstance(record, dict) else {"unreadable": line}


def _anchor_ok(anchor: Mapping[str, Any]) -> bool:
    return set(anchor) == _ANCHOR_KEYS and isinstance(anchor["seq"], int)


def _confirms(entry: Mapping[str, Any], anchor: Mapping[str, Any]) -> bool:
    details = entry.get("details") or {}
    return bool(
        details.get("through_seq") == anchor["seq"]
        and details.get("through_hash") == anchor["hash"]
    )


def _last_line(path: Path) -> bytes | None:
    """Return the file's last non-empty line, reading backwards from the end."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        chunk = b""
        position = end
        while position > 0:
            step = min(4096, position)
            position -= step
            handle.seek(position)
            chunk = handle.read(step) + chunk
            stripped = chunk.rstrip(b"\n")
            if b"\n" in stripped:
                return stripped.rsplit(b"\n", 1)[1]
        stripped = chunk.rstrip(b"\n")
        return stripped or None


def _replace(path: Path, lines: list[bytes]) -> None:
    """Write lines to a temporary file beside `path`, fsync, and rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for line in lines:
                handle.write(line + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
