"""The per-passage vote: per character, weighted by confidence."""

from __future__ import annotations

import pytest

from vigil_core.anpr.decode import SlotRead
from vigil_core.anpr.vote import PlateVote
from vigil_core.plates.normalize import formats_for


def _read(text: str, confidence: float = 0.9, chars: dict[int, float] | None = None) -> SlotRead:
    confs = tuple((chars or {}).get(i, confidence) for i in range(len(text)))
    return SlotRead(text, confidence, confs, None)


def test_empty_vote_has_no_result() -> None:
    assert PlateVote().result() is None


def test_characters_are_voted_by_position_and_confidence() -> None:
    vote = PlateVote()
    vote.add(_read("AB123CD", 0.95))
    vote.add(_read("A8123CD", 0.7, {1: 0.4}))
    vote.add(_read("AB128CD", 0.8, {4: 0.5}))
    result = vote.result()
    assert result is not None
    assert result.text == "AB123CD"
    assert result.reads == 3
    assert 0.6 < result.confidence < 0.9
    assert "AB123CD" not in repr(result)


def test_one_confident_read_outvotes_two_weak_ones_at_its_position() -> None:
    vote = PlateVote()
    vote.add(_read("AB123CD", 0.95, {3: 0.99}))
    vote.add(_read("AB183CD", 0.5, {3: 0.3}))
    vote.add(_read("AB183CD", 0.5, {3: 0.3}))
    result = vote.result()
    assert result is not None and result.text == "AB123CD"


def test_the_heaviest_length_wins_and_others_lower_the_confidence() -> None:
    vote = PlateVote()
    vote.add(_read("AB123CD", 0.9))
    vote.add(_read("AB123CD", 0.9))
    vote.add(_read("AB1223CD", 0.6))
    result = vote.result()
    assert result is not None and result.text == "AB123CD"
    assert result.confidence == pytest.approx(0.9 * 1.8 / 2.4, rel=1e-3)


def test_settled_needs_enough_reads_and_a_majority() -> None:
    vote = PlateVote()
    vote.add(_read("AB123CD"))
    vote.add(_read("AB123CD"))
    assert not vote.settled(3)
    vote.add(_read("XB123CD"))
    assert vote.settled(3)
    split = PlateVote()
    for text in ("AB123CD", "AB128CD", "A8123CD"):
        split.add(_read(text))
    assert not split.settled(3)


def test_the_voted_text_is_resolved_against_the_formats() -> None:
    vote = PlateVote(formats_for(["fr"]))
    vote.add(_read("A8123CD"))
    result = vote.result()
    assert result is not None
    assert result.text == "AB123CD"
    assert result.format is not None and result.format.key == "fr_siv"
