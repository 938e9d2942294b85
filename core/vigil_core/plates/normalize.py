"""Canonical plate text, country formats and position-based resolution of confusable characters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
import itertools
import re
import unicodedata

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
ALNUM = DIGITS + LETTERS

CONFUSABLE_PAIRS: tuple[tuple[str, str], ...] = (
    ("O", "0"),
    ("I", "1"),
    ("B", "8"),
    ("S", "5"),
    ("Z", "2"),
    ("G", "6"),
    ("D", "0"),
)
"""Letter/digit pairs that plate fonts draw alike; a slot's format decides which one it is."""

_PARTNERS: dict[str, tuple[str, ...]] = {}
for _letter, _digit in CONFUSABLE_PAIRS:
    _PARTNERS[_letter] = (*_PARTNERS.get(_letter, ()), _digit)
    _PARTNERS[_digit] = (*_PARTNERS.get(_digit, ()), _letter)


def partners(char: str) -> tuple[str, ...]:
    """Return the characters a plate font draws like this one, likeliest first (may be empty)."""
    return _PARTNERS.get(char, ())


def is_confusable(a: str, b: str) -> bool:
    """Return whether two characters are a confusable letter/digit pair."""
    return b in _PARTNERS.get(a, ())


def canonical(text: str) -> str:
    """Return the comparable form of a plate: upper-case A-Z and 0-9 only.

    Spaces, dashes, dots and any other separator go; accented letters lose their accent
    (German Ö becomes O), because the OCR alphabet has no accents either.
    """
    decomposed = unicodedata.normalize("NFKD", text.upper())
    return "".join(char for char in decomposed if char in ALNUM)


# --- formats -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlateFormat:
    """One serial format of one country, e.g. French SIV ``LL-DDD-LL``.

    In the pattern ``L`` is a letter, ``D`` a digit, ``A`` either, a digit stands for itself
    and a lower-case letter for its capital (the German ``e`` suffix); any other character is a
    separator kept only for display. `letters` narrows the letters a format issues (French SIV
    never uses I, O or U, which is what makes a 0 read in a letter slot resolvable).
    """

    country: str
    name: str
    pattern: str
    letters: str = LETTERS

    @property
    def slots(self) -> tuple[str, ...]:
        """Return the allowed characters of each slot, separators removed."""
        return _slots(self.pattern, self.letters)

    @property
    def length(self) -> int:
        """Return the number of characters of a plate in this format."""
        return len(self.slots)

    @property
    def key(self) -> str:
        """Return the format's identifier, e.g. ``fr_siv``."""
        return f"{self.country}_{self.name}"

    def matches(self, text: str) -> bool:
        """Return whether canonical text fits this format exactly."""
        return _regex(self.pattern, self.letters).fullmatch(text) is not None

    def display(self, text: str) -> str:
        """Return canonical text with this format's separators, e.g. ``AB-123-CD``."""
        if len(text) != self.length:
            return text
        chars = iter(text)
        return "".join(next(chars) if p in _SLOT_CHARS or p.islower() else p for p in self.pattern)


@cache
def _regex(pattern: str, letters: str) -> re.Pattern[str]:
    return re.compile("".join(f"[{allowed}]" for allowed in _slots(pattern, letters)))


_SLOT_CHARS = "LDA" + DIGITS


@cache
def _slots(pattern: str, letters: str) -> tuple[str, ...]:
    table = {"L": letters, "D": DIGITS, "A": DIGITS + letters} | {d: d for d in DIGITS}
    table |= {c.lower(): c for c in LETTERS}
    return tuple(table[p] for p in pattern if p in table)


def _expand(
    country: str,
    name: str,
    groups: Sequence[Sequence[str]],
    letters: str = LETTERS,
    *,
    sep: str = " ",
    max_len: int = 9,
) -> list[PlateFormat]:
    """Return one format per combination of the group alternatives (at most max_len chars)."""
    out = []
    for combo in itertools.product(*groups):
        parts = [part for part in combo if part]
        if sum(len(part) for part in parts) <= max_len:
            out.append(PlateFormat(country, name, sep.join(parts), letters))
    return out


_NO_IOU = "ABCDEFGHJKLMNPQRSTVWXYZ"
_NO_IOQU = "ABCDEFGHJKLMNPRSTVWXYZ"
_ES_LETTERS = "BCDFGHJKLMNPRSTVWXYZ"
_UK_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXYZ"


def _fr() -> list[PlateFormat]:
    siv = [PlateFormat("fr", "siv", "LL-DDD-LL", _NO_IOU)]
    # FNI (before 2009): 1–4 digits, 1–3 letters, then the department (2 digits; 971–976).
    fni = _expand(
        "fr",
        "fni",
        [("D", "DD", "DDD", "DDDD"), ("L", "LL", "LLL"), ("DD", "97D")],
        _NO_IOU,
    )
    return siv + fni


def _de() -> list[PlateFormat]:
    # District (1–3 letters), 1–2 letters, 1–4 digits, optional E (electric) or H (historic).
    return _expand(
        "de",
        "std",
        [("L", "LL", "LLL"), ("L", "LL"), ("D", "DD", "DDD", "DDDD"), ("", "e", "h")],
        max_len=8,
    )


def _es() -> list[PlateFormat]:
    current = [PlateFormat("es", "std", "DDDD LLL", _ES_LETTERS)]
    provincial = _expand("es", "provincial", [("L", "LL"), ("DDDD",), ("L", "LL")])
    return current + provincial


def _uk() -> list[PlateFormat]:
    current = [PlateFormat("uk", "current", "LLDD LLL", _UK_LETTERS)]
    prefix = _expand("uk", "prefix", [("L",), ("D", "DD", "DDD"), ("LLL",)], _UK_LETTERS)
    suffix = _expand("uk", "suffix", [("LLL",), ("D", "DD", "DDD"), ("L",)], _UK_LETTERS)
    dateless = _expand(
        "uk", "dateless", [("L", "LL", "LLL"), ("D", "DD", "DDD", "DDDD")], _UK_LETTERS
    ) + _expand("uk", "dateless", [("D", "DD", "DDD", "DDDD"), ("L", "LL", "LLL")], _UK_LETTERS)
    return current + prefix + suffix + dateless


def _it() -> list[PlateFormat]:
    return [PlateFormat("it", "std", "LL DDD LL", _NO_IOQU)]


def _nl() -> list[PlateFormat]:
    sidecodes = (
        "LL-DD-DD",
        "DD-DD-LL",
        "DD-LL-DD",
        "LL-DD-LL",
        "LL-LL-DD",
        "DD-LL-LL",
        "DD-LLL-D",
        "D-LLL-DD",
        "LL-DDD-L",
        "L-DDD-LL",
        "LLL-DD-L",
        "L-DD-LLL",
        "D-LL-DDD",
        "DDD-LL-D",
    )
    return [PlateFormat("nl", "sidecode", code) for code in sidecodes]


def _be() -> list[PlateFormat]:
    return [PlateFormat("be", "std", "D-LLL-DDD"), PlateFormat("be", "old", "LLL-DDD")]


def _pt() -> list[PlateFormat]:
    return [
        PlateFormat("pt", name, code)
        for name, code in (
            ("2020", "LL-DD-LL"),
            ("2005", "DD-LL-DD"),
            ("1992", "DD-DD-LL"),
            ("1937", "LL-DD-DD"),
        )
    ]


def _ch() -> list[PlateFormat]:
    return _expand("ch", "std", [("LL",), ("D", "DD", "DDD", "DDDD", "DDDDD", "DDDDDD")])


def _at() -> list[PlateFormat]:
    return _expand(
        "at",
        "std",
        [("L", "LL"), ("D", "DD", "DDD", "DDDD", "DDDDD"), ("L", "LL", "LLL")],
        max_len=8,
    )


def _pl() -> list[PlateFormat]:
    return [
        PlateFormat("pl", name, code)
        for name, code in (
            ("2l5", "LL DDDDD"),
            ("2l4l", "LL DDDDL"),
            ("2l3l", "LL DDDLL"),
            ("3l4", "LLL DDDD"),
            ("3l3l", "LLL DDDL"),
            ("3l2l", "LLL DDLL"),
            ("3l1l", "LLL DLDD"),
        )
    ]


_US_PATTERNS = (
    # Common standard-issue serials of the 50 states (passenger and light truck).
    "DLLL-DDD",  # California 1ABC234
    "LLL-DDDD",  # New York, Texas, Pennsylvania, Ohio, Georgia, Arizona, ...
    "LLL-DDD",  # many states, older issues
    "DDD-LLL",  # many states, older issues
    "LLD-LDL",  # Missouri AB1 C2D
    "LLL-LDD",  # Florida, Colorado ABC D12
    "LL-DDDDD",  # Illinois, Connecticut AB 12345
    "LDD-DDDD",  # Illinois A12 3456
    "LL-DDDD",  # Connecticut
    "DLLLL-D",  # Connecticut 1ABCD2
    "DLLL-DD",  # Massachusetts, Michigan 1ABC23
    "DDD-LLD",  # Massachusetts 123 AB4
    "DLL-DDD",  # Massachusetts, Maryland 1AB 234
    "DLL-DDDD",  # Maryland 1AB2345
    "LDD-LLL",  # New Jersey A12 BCD
    "LLL-DDL",  # New Jersey, Arkansas ABC12D
    "LL-DLDDD",  # Texas AB1 C234
    "DL-DDDDD",  # Idaho, California commercial 1A 23456
    "DL-DDDD",  # South Dakota, Nebraska
    "DDD-LDD",  # Nevada 123 A45
    "DDL-DDD",  # Nevada 12A 345
    "LDD-DDL",  # Tennessee A12 34B
    "LDDD-LL",  # Utah A123BC
    "DDDD-LL",  # Maine 1234 AB
    "DDD-L",  # Indiana
    "DDD-LL",  # Indiana
    "LL-DDD",  # Rhode Island
    "DDDDDDD",  # New Hampshire
    "DDDDDD",  # Delaware, Rhode Island
    "DDDDD",  # Delaware
)


def _us() -> list[PlateFormat]:
    return [PlateFormat("us", "std", pattern) for pattern in _US_PATTERNS]


# --- the rest of the EU, Norway and the Mercosur ---------------------------------------------
# Current standard series of passenger cars (and the older ones still common on the road);
# personalised plates are vanity plates.

_GR_LETTERS = "ABEHIKMNOPTXYZ"
"""Greek plates use only the letters that look alike in Greek and Latin."""


def _simple(
    country: str, patterns: Sequence[tuple[str, str]], letters: str = LETTERS
) -> list[PlateFormat]:
    return [PlateFormat(country, name, pattern, letters) for name, pattern in patterns]


def _bg() -> list[PlateFormat]:
    return _expand("bg", "std", [("L", "LL"), ("DDDD",), ("LL",)])


def _cy() -> list[PlateFormat]:
    return _simple("cy", [("std", "LLL DDD")])


def _cz() -> list[PlateFormat]:
    # Region digit-letter-(letter or digit), then four digits: 1A2 3456, 2AB 1234.
    return _simple("cz", [("std", "DLA DDDD")])


def _dk() -> list[PlateFormat]:
    return _simple("dk", [("std", "LL DD DDD")])


def _ee() -> list[PlateFormat]:
    return _simple("ee", [("std", "DDD LLL")])


def _fi() -> list[PlateFormat]:
    return _expand("fi", "std", [("L", "LL", "LLL"), ("D", "DD", "DDD")], sep="-")


def _gr() -> list[PlateFormat]:
    return _simple("gr", [("std", "LLL-DDDD")], _GR_LETTERS)


def _hr() -> list[PlateFormat]:
    # Town (2 letters), 3-4 digits, 1-2 letters: ZG 1234-AB, ST 123-A.
    return _expand("hr", "std", [("LL",), ("DDD", "DDDD"), ("L", "LL")])


def _hu() -> list[PlateFormat]:
    return _simple("hu", [("old", "LLL-DDD"), ("2022", "LL LL-DDD")])


def _ie() -> list[PlateFormat]:
    # Year (2-3 digits), county (1-2 letters), serial (1-6 digits): 191-D-12345.
    return _expand(
        "ie",
        "std",
        [("DD", "DDD"), ("L", "LL"), ("D", "DD", "DDD", "DDDD", "DDDDD", "DDDDDD")],
        sep="-",
    )


def _lt() -> list[PlateFormat]:
    return _simple("lt", [("std", "LLL DDD")])


def _lu() -> list[PlateFormat]:
    return _simple("lu", [("std", "LL DDDD"), ("digits", "DDDDD")])


def _lv() -> list[PlateFormat]:
    return _expand("lv", "std", [("LL",), ("D", "DD", "DDD", "DDDD")], sep="-")


def _mt() -> list[PlateFormat]:
    return _simple("mt", [("std", "LLL DDD")])


def _no() -> list[PlateFormat]:
    return _simple("no", [("std", "LL DDDDD"), ("short", "LL DDDD")])


def _ro() -> list[PlateFormat]:
    return _expand("ro", "std", [("L", "LL"), ("DD", "DDD"), ("LLL",)])


def _se() -> list[PlateFormat]:
    return _simple("se", [("std", "LLL DDD"), ("2019", "LLL DDL")])


def _si() -> list[PlateFormat]:
    # Region (2 letters), then 5 characters, letters and digits in several layouts.
    return _expand("si", "std", [("LL",), ("DD-DDL", "DDD-LL", "LL-DDD", "L-DDDD", "DDD-DD")])


def _sk() -> list[PlateFormat]:
    return _simple("sk", [("std", "LL-DDDLL")])


def _br() -> list[PlateFormat]:
    # Mercosur since 2018 ABC1D23; the older grey plates ABC-1234.
    return _simple("br", [("mercosur", "LLL DLDD"), ("old", "LLL-DDDD")])


def _ar() -> list[PlateFormat]:
    # Mercosur cars AB 123 CD and motorcycles A 123 BCD; the older ABC 123.
    return _simple("ar", [("mercosur", "LL DDD LL"), ("moto", "L DDD LLL"), ("old", "LLL DDD")])


def _uy() -> list[PlateFormat]:
    return _simple("uy", [("mercosur", "LLL DDDD")])


def _py() -> list[PlateFormat]:
    return _simple("py", [("mercosur", "LLLL DDD"), ("moto", "DDD LLLL")])


def _bo() -> list[PlateFormat]:
    return _simple("bo", [("std", "DDDD LLL"), ("mercosur", "LL DDDDD")])


_BUILDERS = {
    "ar": _ar,
    "at": _at,
    "be": _be,
    "bg": _bg,
    "bo": _bo,
    "br": _br,
    "ch": _ch,
    "cy": _cy,
    "cz": _cz,
    "de": _de,
    "dk": _dk,
    "ee": _ee,
    "es": _es,
    "fi": _fi,
    "fr": _fr,
    "gr": _gr,
    "hr": _hr,
    "hu": _hu,
    "ie": _ie,
    "it": _it,
    "lt": _lt,
    "lu": _lu,
    "lv": _lv,
    "mt": _mt,
    "nl": _nl,
    "no": _no,
    "pl": _pl,
    "pt": _pt,
    "py": _py,
    "ro": _ro,
    "se": _se,
    "si": _si,
    "sk": _sk,
    "uk": _uk,
    "us": _us,
    "uy": _uy,
}
COUNTRIES: tuple[str, ...] = tuple(sorted(_BUILDERS))
"""Country codes with known formats (ISO 3166 alpha-2, except ``uk`` for the United Kingdom)."""


@cache
def country_formats(country: str) -> tuple[PlateFormat, ...]:
    """Return the formats of one country; raise KeyError for an unknown code."""
    return tuple(_BUILDERS[country]())


@cache
def _formats(countries: tuple[str, ...]) -> tuple[PlateFormat, ...]:
    seen: dict[tuple[str, str, str], PlateFormat] = {}
    for country in countries:
        for fmt in country_formats(country):
            seen.setdefault((fmt.country, fmt.pattern, fmt.letters), fmt)
    return tuple(seen.values())


def formats_for(countries: Iterable[str]) -> tuple[PlateFormat, ...]:
    """Return the formats of these countries (none for an empty list: any text is a plate)."""
    return _formats(tuple(sorted(set(countries))))


def all_formats() -> tuple[PlateFormat, ...]:
    """Return the formats of every known country."""
    return _formats(COUNTRIES)


def find_format(text: str, formats: Sequence[PlateFormat]) -> PlateFormat | None:
    """Return the first format canonical text fits exactly, or None."""
    return next((fmt for fmt in formats if fmt.matches(text)), None)


# --- text-level resolution --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """A plate text after confusable characters were resolved."""

    text: str
    format: PlateFormat | None
    swaps: int
    """How many characters were replaced by their confusable partner."""

    def __repr__(self) -> str:
        """Keep the plate out of logs and tracebacks."""
        return f"Resolved(len={len(self.text)}, swaps={self.swaps})"


def resolve_text(text: str, formats: Sequence[PlateFormat]) -> Resolved:
    """Resolve confusable characters by their position in the best-fitting format.

    Used for text without per-slot probabilities (watchlist entries typed by a user, OCR
    engines that return strings). Of the formats the text fits after replacing only confusable
    characters, the one needing the fewest replacements wins; text that fits none goes through
    `resolve_by_neighbours`.
    """
    text = canonical(text)
    best: Resolved | None = None
    for fmt in formats:
        slots = fmt.slots
        if len(slots) != len(text):
            continue
        out = []
        swaps = 0
        for char, allowed in zip(text, slots, strict=True):
            if char in allowed:
                out.append(char)
                continue
            alternative = next((p for p in partners(char) if p in allowed), None)
            if alternative is None:
                break
            out.append(alternative)
            swaps += 1
        else:
            if best is None or swaps < best.swaps:
                best = Resolved("".join(out), fmt, swaps)
            if swaps == 0:
                break
    if best is not None:
        return best
    resolved = resolve_by_neighbours(text)
    return Resolved(resolved, None, sum(a != b for a, b in zip(text, resolved, strict=True)))


def resolve_by_neighbours(text: str) -> str:
    """Resolve confusables of a plate in no known format (e.g. a vanity plate) by the others.

    When at least two characters have no confusable partner and are all letters (or all
    digits), the confusable characters take that kind: ``T0YDR`` becomes ``TOYDR``. Mixed or
    too little evidence leaves the text unchanged.
    """
    plain = [char for char in text if not partners(char)]
    if len(plain) < 2:
        return text
    if all(char in LETTERS for char in plain):
        kind = LETTERS
    elif all(char in DIGITS for char in plain):
        kind = DIGITS
    else:
        return text
    out = []
    for char in text:
        if char in kind:
            out.append(char)
        else:
            out.append(next((p for p in partners(char) if p in kind), char))
    return "".join(out)
