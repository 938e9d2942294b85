"""Line-crossing totals persist across restarts, reset on request, and survive a bad file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.core.test_rules_support import Feed, make_rule, walk
from vigil_core.rules.line_crossing import LineCrossingRule
from vigil_core.store.counters import CounterStore
from vigil_protocol import LineCounts

LINE = {"type": "line_crossing", "id": "door", "line": [[0.5, 0.1], [0.5, 0.9]]}


def _cross(rule: LineCrossingRule, track_id: int) -> None:
    Feed(rule).run([[t] for t in walk(track_id, (260, 150), (140, 150), 10)])


def test_totals_survive_a_restart_and_reset(tmp_path: Path) -> None:
    store = CounterStore.in_dir(tmp_path)
    rule = make_rule(LINE, store)
    assert isinstance(rule, LineCrossingRule)
    _cross(rule, 1)
    _cross(rule, 2)
    assert rule.state().a_to_b == 2
    saved = json.loads((tmp_path / "counters.json").read_text())
    assert saved["counters"]["cam"]["door"]["person"]["a_to_b"] == 2

    restarted = make_rule(LINE, CounterStore.in_dir(tmp_path))  # Home Assistant restarted
    assert restarted.state().a_to_b == 2
    assert restarted.state().by_class == {"person": LineCounts(a_to_b=2)}
    assert isinstance(restarted, LineCrossingRule)
    _cross(restarted, 7)
    assert restarted.state().a_to_b == 3

    CounterStore.in_dir(tmp_path).reset("cam", "door")
    assert make_rule(LINE, CounterStore.in_dir(tmp_path)).state().a_to_b == 0
    assert list(tmp_path.iterdir()) == [tmp_path / "counters.json"]  # no temporary file left


def test_reset_is_seen_by_a_running_rule() -> None:
    store = CounterStore()
    rule = make_rule(LINE, store)
    assert isinstance(rule, LineCrossingRule)
    _cross(rule, 1)
    store.reset("cam", "door")
    assert rule.state().a_to_b == 0
    assert store.path is None


def test_a_damaged_file_starts_from_zero(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "counters.json"
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        store = CounterStore(path)
    assert store.totals("cam", "door") == {}
    assert "unreadable" in caplog.text
    path.write_text(
        json.dumps(
            {"version": 1, "counters": {"cam": {"door": {"person": {"a_to_b": -3, "b_to_a": 4}}}}}
        )
    )
    assert CounterStore(path).totals("cam", "door") == {"person": {"b_to_a": 4}}


def test_an_unwritable_folder_keeps_counting_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = CounterStore(blocker / "sub" / "counters.json")
    with caplog.at_level(logging.WARNING):
        assert store.add("cam", "door", "person", "a_to_b") == 1
    assert "Could not save" in caplog.text
    assert store.totals("cam", "door") == {"person": {"a_to_b": 1}}
