"""Vote one plate text out of the reads of one vehicle passage."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from vigil_core.anpr.decode import SlotRead
from vigil_core.plates.normalize import PlateFormat, find_format, resolve_text


@dataclass(frozen=True, slots=True)
class VotedPlate:
    """The plate a passage was read as."""

    text: str
    confidence: float
    """Mean per-position support: confidence-weighted share of the reads agreeing (0–1)."""
    reads: int
    format: PlateFormat | None

    def __repr__(self) -> str:
        """Keep the plate out of logs and tracebacks."""
        shown = f"len={len(self.text)}, confidence={self.confidence:.2f}, reads={self.reads}"
        return f"VotedPlate({shown})"


class PlateVote:
    """Reads of one passage, voted per character and weighted by confidence.

    Reads are grouped by length first (a missed or doubled character shifts every position);
    the heaviest length wins and its reads vote position by position, each character weighted
    by its own confidence. Reads of other lengths count as dissent in the confidence.
    """

    def __init__(self, formats: Sequence[PlateFormat] = ()) -> None:
        """Start an empty vote; `formats` re-resolve confusables of the voted text."""
        self._formats = tuple(formats)
        self._reads: list[SlotRead] = []

    def __len__(self) -> int:
        return len(self._reads)

    def add(self, read: SlotRead) -> None:
        """Add one read of the passage."""
        if read.text:
            self._reads.append(read)

    def settled(self, votes: int) -> bool:
        """Return whether `votes` reads are in and a majority of them agree on one text."""
        if len(self._reads) < votes:
            return False
        counts: dict[str, int] = defaultdict(int)
        for read in self._reads:
            counts[read.text] += 1
        return max(counts.values()) * 2 > len(self._reads)

    def result(self) -> VotedPlate | None:
        """Return the voted plate, or None without reads."""
        if not self._reads:
            return None
        by_length: dict[int, list[SlotRead]] = defaultdict(list)
        for read in self._reads:
            by_length[len(read.text)].append(read)
        weight = {n: sum(r.confidence for r in reads) for n, reads in by_length.items()}
        length = max(weight, key=lambda n: (weight[n], len(by_length[n])))
        group = by_length[length]
        total = sum(weight.values())
        chars: list[str] = []
        support: list[float] = []
        for position in range(length):
            tally: dict[str, float] = defaultdict(float)
            for read in group:
                conf = (
                    read.char_confidences[position]
                    if position < len(read.char_confidences)
                    else read.confidence
                )
                tally[read.text[position]] += conf * read.confidence
            char = max(tally, key=lambda c: tally[c])
            chars.append(char)
            support.append(tally[char] / sum(tally.values()))
        text = "".join(chars)
        fmt = find_format(text, self._formats)
        if self._formats and fmt is None:
            resolved = resolve_text(text, self._formats)
            if resolved.format is not None:
                text, fmt = resolved.text, resolved.format
        group_conf = sum(r.confidence for r in group) / len(group)
        confidence = group_conf * (sum(support) / length) * (weight[length] / total)
        return VotedPlate(text, confidence, len(self._reads), fmt)
