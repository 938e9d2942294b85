"""The access log: append, verify, detect tampering, purge with an anchor, export, concurrency."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
import hashlib
import json
import multiprocessing
from pathlib import Path

import pytest

from vigil_core.privacy.access_log import (
    GENESIS,
    AccessAction,
    AccessLog,
    AccessLogError,
    Actor,
    canonical,
    load_or_create_key,
    verify_entries,
)
from vigil_core.privacy.retention import ArtefactStore
from vigil_protocol.privacy import Artefact

ALICE = Actor(user_id="u-alice", name="Alice", is_admin=True)
BOB = Actor(user_id="u-bob", name="Bob", is_admin=False)
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
KEY = b"k" * 32


class Clock:
    """A settable clock for the log."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(tmp_path: Path, clock: Clock) -> AccessLog:
    return AccessLog(tmp_path / "access_log.jsonl", key=KEY, clock=clock)


def entry_hash(entry: dict[str, object]) -> str:
    """Return the plain SHA-256 anyone can compute (what the chain used before it was keyed)."""
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def fill(log: AccessLog, clock: Clock, days: int) -> None:
    """Write one entry a day for `days` days."""
    for day in range(days):
        clock.now = T0 + timedelta(days=day)
        log.append(ALICE, AccessAction.PLATE_QUERY, target=f"AB-{day:03d}-CD", reason="theft")


def lines(log: AccessLog) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


def write(log: AccessLog, records: list[dict[str, object]]) -> None:
    log.path.write_text("".join(canonical(r).decode() + "\n" for r in records))


def test_append_chains_entries(log: AccessLog) -> None:
    first = log.append(ALICE, "snapshot_view", target="cam1/2025-01-01.jpg", reason="incident 42")
    second = log.append(BOB, AccessAction.CONTEXT_CHANGE, details={"from": "a", "to": "b"})
    assert first["seq"] == 0 and first["prev"] == GENESIS
    assert second["seq"] == 1 and second["prev"] == first["hash"]
    assert first["actor"] == {"user_id": "u-alice", "name": "Alice", "is_admin": True}
    assert first["at"] == T0.isoformat()
    assert first["hash"] == log.entry_hash(first)
    check = log.verify()
    assert check.ok and check.entries == 2 and check.head == second["hash"]
    assert log.path.stat().st_mode & 0o777 == 0o600


def test_empty_log_verifies(log: AccessLog) -> None:
    check = log.verify()
    assert check.ok and check.entries == 0 and check.head == GENESIS


@pytest.mark.parametrize(
    ("tamper", "index", "reason"),
    [
        (lambda r: r[2].update(target="XX-999-XX"), 2, "content does not match its hash"),
        (
            lambda r: r[2].update(reason="other", hash=entry_hash(r[2] | {"reason": "other"})),
            2,
            "content does not match its hash",
        ),
        (lambda r: r[3].update(prev=r[1]["hash"]), 3, "not chained to the previous entry"),
        (lambda r: r.pop(2), 2, "sequence number 3 where 2 was expected"),
        (lambda r: r.insert(1, r.pop(3)), 1, "sequence number 3 where 1 was expected"),
        (lambda r: r[4].update(extra=1), 4, "unexpected or missing fields"),
    ],
    ids=["edited", "edited-and-rehashed", "relinked", "removed", "reordered", "field-added"],
)
def test_verify_finds_the_first_tampered_entry(
    log: AccessLog, clock: Clock, tamper: object, index: int, reason: str
) -> None:
    fill(log, clock, 6)
    records = lines(log)
    tamper(records)  # type: ignore[operator]
    write(log, records)
    check = log.verify()
    assert not check.ok
    assert check.first_broken == index
    assert check.reason == reason
    with pytest.raises(AccessLogError, match="not purging"):
        log.purge(T0 + timedelta(days=30))


def test_damaged_last_line_refuses_appends(log: AccessLog, clock: Clock) -> None:
    fill(log, clock, 2)
    with log.path.open("a") as handle:
        handle.write('{"seq": 2, "at": "trunc')
    check = log.verify()
    assert (check.ok, check.first_broken, check.line, check.reason) == (
        False,
        2,
        3,
        "unreadable line",
    )
    with pytest.raises(AccessLogError, match="damaged"):
        log.append(ALICE, AccessAction.LOG_VERIFY)


def test_purge_keeps_the_chain_verifiable(log: AccessLog, clock: Clock) -> None:
    fill(log, clock, 10)
    hashes = [r["hash"] for r in lines(log)]
    clock.now = T0 + timedelta(days=10)
    assert isinstance(log, ArtefactStore) and log.artefact is Artefact.ACCESS_LOG

    removed = log.purge(T0 + timedelta(days=4))  # entries of days 0-3 go

    assert removed == 4
    records = lines(log)
    anchor = records[0]["anchor"]
    assert isinstance(anchor, dict)
    assert (anchor["seq"], anchor["hash"], anchor["purged"]) == (3, hashes[3], 4)
    assert records[1]["seq"] == 4 and records[1]["prev"] == hashes[3]
    purge = records[-1]
    assert purge["action"] == "purge" and purge["seq"] == 10
    assert purge["details"] == {
        "removed": 4,
        "through_seq": 3,
        "through_hash": hashes[3],
        "before": (T0 + timedelta(days=4)).isoformat(),
    }
    check = log.verify()
    assert check.ok and check.entries == 7 and check.anchor_signature_checked

    # A second purge moves the anchor on; the earlier purge entry may go with it.
    assert log.purge(T0 + timedelta(days=20)) == 7
    check = log.verify()
    assert check.ok and check.entries == 1
    assert lines(log)[0]["anchor"]["purged"] == 11  # type: ignore[index]
    log.append(ALICE, AccessAction.LOG_VERIFY)
    assert log.verify().ok
    assert log.purge(T0) == 0


def test_forged_anchor_is_detected(log: AccessLog, clock: Clock) -> None:
    fill(log, clock, 6)
    log.purge(T0 + timedelta(days=2))
    records = lines(log)

    # Removing more entries and moving the anchor without the key breaks its signature.
    forged = [dict(records[0]), *records[2:]]
    anchor = dict(records[0]["anchor"])  # type: ignore[arg-type]
    anchor.update(seq=records[1]["seq"], hash=records[1]["hash"])
    forged[0] = {"anchor": anchor}
    write(log, forged)
    check = log.verify()
    assert not check.ok and check.reason == "anchor signature does not match"


def test_anchor_must_come_first(log: AccessLog, clock: Clock) -> None:
    fill(log, clock, 4)
    log.purge(T0 + timedelta(days=2))
    records = lines(log)
    write(log, [records[1], records[0], *records[2:]])
    assert log.verify().reason == "sequence number 2 where 0 was expected"
    write(log, [records[0], records[1], records[0], *records[2:]])
    assert log.verify().reason == "anchor not at the start of the log"


def test_export_writes_entries_anchor_and_verification(
    log: AccessLog, clock: Clock, tmp_path: Path
) -> None:
    fill(log, clock, 5)
    log.purge(T0 + timedelta(days=1))
    result = log.export(tmp_path / "exports" / "access_log.json")
    document = json.loads(result.path.read_text())
    assert document["format"] == "vigil-access-log/2"
    assert document["verification"]["ok"] is True
    assert document["anchor"]["seq"] == 0
    assert result.entries == len(document["entries"]) == 5
    # An auditor can check the chain from the export alone.
    # An auditor holding the key can check the chain from the export alone.
    key, start = log.key, document["anchor"]["hash"]
    assert verify_entries(document["entries"], key, start) is None
    assert document["head"]["count"] == 6
    document["entries"][2]["target"] = "changed"
    assert verify_entries(document["entries"], key, start) == 2


def test_export_of_a_damaged_log_hides_nothing(
    log: AccessLog, clock: Clock, tmp_path: Path
) -> None:
    fill(log, clock, 2)
    with log.path.open("a") as handle:
        handle.write("garbage\n")
    result = log.export(tmp_path / "out.json")
    document = json.loads(result.path.read_text())
    assert document["verification"]["ok"] is False
    assert document["entries"][-1] == {"unreadable": "garbage"}


def test_key_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "access_log.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert load_or_create_key(path) == key
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("zz")
    with pytest.raises(AccessLogError, match="not hexadecimal"):
        load_or_create_key(path)


def test_threads_append_without_breaking_the_chain(tmp_path: Path) -> None:
    log = AccessLog(tmp_path / "log.jsonl", key=KEY)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda i: log.append(ALICE, AccessAction.CROP_VIEW, target=str(i)), range(80))
        )
    check = log.verify()
    assert check.ok and check.entries == 80


def _append_many(path: str, worker: int) -> None:
    log = AccessLog(Path(path), key=KEY)
    for i in range(15):
        log.append(BOB, AccessAction.SNAPSHOT_VIEW, target=f"{worker}-{i}")


def test_processes_append_without_breaking_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_append_many, [str(path)] * 3, range(3)))
    check = AccessLog(path, key=KEY).verify()
    assert check.ok and check.entries == 45
    targets = {e["target"] for e in AccessLog(path, key=KEY).entries()}
    assert len(targets) == 45


def test_access_log_is_the_plate_store_audit_log(log: AccessLog) -> None:
    from vigil_core.anpr.store import AuditLog  # noqa: PLC0415

    audit: AuditLog = log
    audit.record_query(who="Alice", plate_hash="ab12", reason="theft", details={"found": 2})
    [entry] = log.entries()
    assert entry["action"] == "plate_query" and entry["target"] == "ab12"
    assert entry["actor"] == {"user_id": None, "name": "Alice", "is_admin": None}
    assert entry["details"] == {"found": 2}
    assert log.verify().ok


# The attacks issue 16 found: each verified as intact with a plain SHA-256 chain. ------------


def _rechain_plainly(records: list[dict[str, object]], start: int) -> None:
    """Recompute `prev` and `hash` from `start` on, as anyone can without the key."""
    for index in range(start, len(records)):
        if index:
            records[index]["prev"] = records[index - 1]["hash"]
        body = {k: v for k, v in records[index].items() if k != "hash"}
        records[index]["hash"] = hashlib.sha256(canonical(body)).hexdigest()


@pytest.mark.parametrize("removed", [1, 5])
def test_lines_removed_at_the_end_are_detected(log: AccessLog, clock: Clock, removed: int) -> None:
    fill(log, clock, 8)
    write(log, lines(log)[:-removed])
    check = log.verify()
    assert not check.ok
    assert check.first_broken == 8 - removed
    assert "removed from its end" in check.reason


def test_every_line_removed_is_detected(log: AccessLog, clock: Clock) -> None:
    fill(log, clock, 3)
    log.path.write_text("")
    check = log.verify()
    assert not check.ok and "removed from its end" in check.reason
    log.path.unlink()
    assert not log.verify().ok


def test_an_edit_rechained_without_the_key_is_detected(log: AccessLog, clock: Clock) -> None:
    fill(log, clock, 6)
    records = lines(log)
    records[2]["target"] = "XX-999-XX"
    _rechain_plainly(records, 2)
    write(log, records)
    check = log.verify()
    assert not check.ok
    assert check.first_broken == 2
    assert check.reason == "content does not match its hash"


def test_an_edit_rechained_with_another_key_is_detected(
    log: AccessLog, clock: Clock, tmp_path: Path
) -> None:
    fill(log, clock, 6)
    records = lines(log)
    forger = AccessLog(tmp_path / "forged.jsonl", key=b"f" * 32, clock=clock)
    for record in records[2:]:
        record["prev"] = records[records.index(record) - 1]["hash"]
        record["hash"] = forger.entry_hash(record)
    write(log, records)
    check = log.verify()
    assert not check.ok and check.first_broken == 2


def test_the_head_is_kept_apart_and_returned(log: AccessLog, clock: Clock) -> None:
    fill(log, clock, 4)
    check = log.verify()
    head = json.loads(log.head_path.read_text())
    assert (head["count"], head["hash"]) == (4, lines(log)[-1]["hash"])
    assert (check.count, check.head, check.anchored) == (4, head["hash"], True)
    assert check.as_dict()["count"] == 4
    assert log.head_path.stat().st_mode & 0o777 == 0o600


def test_a_head_lowered_without_the_key_is_detected(log: AccessLog, clock: Clock) -> None:
    fill(log, clock, 5)
    records = lines(log)
    write(log, records[:3])
    head = json.loads(log.head_path.read_text())
    head.update(count=3, hash=records[2]["hash"])
    log.head_path.write_text(json.dumps(head))
    check = log.verify()
    assert not check.ok and check.reason == "the head file does not match its signature"
    log.head_path.unlink()
    assert log.verify().reason == "the head file is missing: entries may have been removed"


def test_a_crash_between_the_line_and_the_head_loses_nothing(
    log: AccessLog, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line is written first: a head one entry behind is a crash, not an attack."""
    fill(log, clock, 3)

    def crash(*_args: object, **_kwargs: object) -> bool:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("vigil_core.privacy.access_log.write_atomically", crash)
        with pytest.raises(KeyboardInterrupt):
            log.append(ALICE, AccessAction.LOG_VERIFY)
    check = log.verify()
    assert check.ok and check.count == 4
    log.append(ALICE, AccessAction.LOG_VERIFY)
    assert json.loads(log.head_path.read_text())["count"] == 5


def test_a_head_kept_elsewhere_catches_a_rewrite_with_the_key(log: AccessLog, clock: Clock) -> None:
    """Whoever holds the key can rewrite the log and its head: only a copy kept away shows it."""
    fill(log, clock, 6)
    kept = log.verify().witness
    records = lines(log)
    write(log, records[:4])
    log.path.unlink()
    for record in records[:4]:
        clock.now = datetime.fromisoformat(str(record["at"]))
        log.append(ALICE, AccessAction.PLATE_QUERY, target=str(record["target"]), reason="theft")
    assert log.verify().ok  # consistent with itself: the key signs anything
    check = log.verify(witness=kept)
    assert not check.ok and "removed from its end" in check.reason
