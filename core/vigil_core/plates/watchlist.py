"""Watched plates: pattern validation, matching tolerant of OCR errors, expiry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
import unicodedata

from vigil_core.errors import ConfigInvalid
from vigil_core.plates.normalize import ALNUM, is_confusable


class WatchlistEntrySettings(Protocol):
    """What compiling needs from one configured entry (`config.WatchlistEntry` has it)."""

    @property
    def id(self) -> str:
        """The entry's stable id."""

    @property
    def plate(self) -> str:
        """The plate or pattern as written."""

    @property
    def label(self) -> str:
        """What the user calls it."""

    @property
    def reason(self) -> str:
        """Why the plate is watched."""

    @property
    def expires(self) -> datetime | date | None:
        """When the entry stops matching."""

    @property
    def max_distance(self) -> float | None:
        """The tolerance (None on an entry: the list's default)."""

    @property
    def legal_obligation(self) -> bool:
        """Whether it answers a legal obligation."""


class WatchlistSettings(Protocol):
    """What compiling needs from the configured watchlist (`config.WatchlistSpec` has it).

    A structural type, so that this leaf module needs nothing from the configuration above it.
    """

    @property
    def max_distance(self) -> float:
        """The entries' default tolerance."""

    @property
    def entries(self) -> Sequence[WatchlistEntrySettings]:
        """The entries."""


WILDCARDS = "*?"
SEPARATORS = " -._·/"
MIN_CHARACTERS = 2
"""Letters or digits of a plate written out in full (no wildcard)."""
MIN_PATTERN_CHARACTERS = 4
"""Fixed letters or digits of a pattern (with ``*`` or ``?``).

Measured in tests/core/test_anpr_watchlist.py against 5,000 random French SIV plates with the
default tolerance: the loosest 3-character pattern found (``*8*8*8*``) matched 0.9 % of them
(one passage in 110 a false match), the loosest 4-character one 0.1 %; ``AB*`` matched 12.9 %
with the old tolerance of 1.0. See docs/anpr.md.
"""
MAX_CHARACTERS = 10
CONFUSABLE_COST = 0.3
"""Edit cost of reading one character as its confusable partner (O for 0, B for 8, ...)."""
MAX_CONFUSABLES = 2
DEFAULT_MAX_DISTANCE = MAX_CONFUSABLES * CONFUSABLE_COST
"""The default tolerance: at most two confusable pairs (normalize.CONFUSABLE_PAIRS: O/0, I/1,
B/8, S/5, Z/2, G/6, D/0) and no other difference, since any other edit costs 1.0."""


class InvalidPlate(ConfigInvalid, ValueError):
    """A watchlist plate or pattern is malformed; the message never repeats the value."""

    translation_key = "invalid_plate"


class PlateTooShort(InvalidPlate):
    """Fewer than two letters or digits: it would match almost every plate."""

    translation_key = "plate_too_short"


class PatternTooLoose(PlateTooShort):
    """A pattern with too few fixed characters: it would match many unrelated plates."""

    translation_key = "pattern_too_loose"


class PlateTooLong(InvalidPlate):
    """More characters than any plate has."""

    translation_key = "plate_too_long"


def parse_pattern(value: str) -> str:
    """Return the canonical pattern (A-Z, 0-9, ``*`` any run, ``?`` one character).

    Separators (spaces, dashes, dots) go, as on a read plate; anything else is refused.
    """
    upper = unicodedata.normalize("NFKD", value.upper())
    out: list[str] = []
    for char in upper:
        if unicodedata.combining(char) or char in SEPARATORS:
            continue
        if char not in ALNUM and char not in WILDCARDS:
            raise InvalidPlate(
                "a plate may hold only letters, digits, separators and the wildcards * and ?"
            )
        if char == "*" and out and out[-1] == "*":
            continue
        out.append(char)
    literals = sum(char not in WILDCARDS for char in out)
    if literals < MIN_CHARACTERS:
        raise PlateTooShort(f"a plate needs at least {MIN_CHARACTERS} letters or digits")
    if literals < MIN_PATTERN_CHARACTERS and any(char in WILDCARDS for char in out):
        raise PatternTooLoose(
            f"a pattern with * or ? needs at least {MIN_PATTERN_CHARACTERS} fixed letters or digits"
        )
    if len(out) - out.count("*") > MAX_CHARACTERS:
        raise PlateTooLong(f"a plate has at most {MAX_CHARACTERS} characters")
    return "".join(out)


def plate_distance(pattern: str, text: str, confusable_cost: float = CONFUSABLE_COST) -> float:
    """Return the edit distance from a canonical pattern to a canonical plate text.

    Insertions, deletions and substitutions cost 1, a confusable substitution (O/0, B/8, ...)
    `confusable_cost`; ``?`` matches any one character and ``*`` any run, both for free.
    """
    width = len(text) + 1
    previous = [float(j) for j in range(width)]
    for token in pattern:
        current = [0.0] * width
        if token == "*":
            current[0] = previous[0]
            for j in range(1, width):
                current[j] = min(previous[j], current[j - 1])
        else:
            current[0] = previous[0] + 1.0
            for j in range(1, width):
                char = text[j - 1]
                if token in ("?", char):
                    substitution = 0.0
                elif is_confusable(token, char):
                    substitution = confusable_cost
                else:
                    substitution = 1.0
                current[j] = min(
                    previous[j - 1] + substitution, previous[j] + 1.0, current[j - 1] + 1.0
                )
        previous = current
    return previous[-1]


def expiry_timestamp(expires: datetime | date | None) -> float | None:
    """Return when an entry stops matching (Unix time); a date ends at local midnight after it."""
    if expires is None:
        return None
    if isinstance(expires, datetime):
        return expires.timestamp()
    return datetime.combine(expires + timedelta(days=1), time.min).timestamp()


@dataclass(frozen=True, slots=True)
class WatchedPlate:
    """One compiled watchlist entry."""

    entry_id: str
    pattern: str
    label: str
    reason: str
    expires_at: float | None
    max_distance: float
    legal_obligation: bool = False
    """The entry answers a legal obligation: it matches even a plate on the objection list."""

    def __repr__(self) -> str:
        """Keep the plate out of logs and tracebacks."""
        return f"WatchedPlate(entry_id={self.entry_id!r})"

    def active(self, now: float) -> bool:
        """Return whether the entry still matches at `now` (Unix time)."""
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class WatchMatch:
    """A read that matched a watchlist entry."""

    entry: WatchedPlate
    distance: float

    @property
    def exact(self) -> bool:
        """Return whether the read is the entry itself (no OCR error, no wildcard slack)."""
        return (
            self.distance == 0.0 and "*" not in self.entry.pattern and "?" not in self.entry.pattern
        )


class Watchlist:
    """Immutable set of watched plates; build a new one to change it (swap is atomic)."""

    def __init__(
        self, entries: Iterable[WatchedPlate] = (), *, confusable_cost: float = CONFUSABLE_COST
    ) -> None:
        """Keep the compiled entries."""
        self.entries = tuple(entries)
        self.confusable_cost = confusable_cost

    @classmethod
    def from_spec(cls, spec: WatchlistSettings) -> Watchlist:
        """Compile the configured watchlist."""
        default = spec.max_distance
        entries = spec.entries
        return cls(
            WatchedPlate(
                entry_id=entry.id,
                pattern=parse_pattern(entry.plate),
                label=entry.label,
                reason=entry.reason,
                expires_at=expiry_timestamp(entry.expires),
                max_distance=default if entry.max_distance is None else float(entry.max_distance),
                legal_obligation=entry.legal_obligation,
            )
            for entry in entries
        )

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, text: str, now: float, *, objected: bool = False) -> WatchMatch | None:
        """Return the closest active entry within its tolerance, or None.

        An `objected` plate (on the objection list) matches only legal-obligation entries.
        """
        best: WatchMatch | None = None
        for entry in self.entries:
            if not entry.active(now) or (objected and not entry.legal_obligation):
                continue
            distance = plate_distance(entry.pattern, text, self.confusable_cost)
            if distance <= entry.max_distance + 1e-9 and (best is None or distance < best.distance):
                best = WatchMatch(entry, distance)
                if distance == 0.0:
                    break
        return best
