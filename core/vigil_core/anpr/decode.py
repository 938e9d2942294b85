"""Format-aware decoding of per-slot OCR probabilities into one plate text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
import math
import threading

import numpy as np
import numpy.typing as npt

from vigil_core.plates.normalize import CONFUSABLE_PAIRS, PlateFormat, is_confusable

type SlotProbs = npt.NDArray[np.float32]
"""S×K probabilities: one softmax over the OCR alphabet per character slot."""

_FLOOR = 1e-6
_FORMAT_CANDIDATES = 8
"""Format fills scored in full per decode (the likeliest by fill score plus prior)."""
_ALPHANUMERIC = 36
LENGTH_HINT_CONFIDENCE = 0.9
"""Second-opinion confidence from which its length counts even when its characters do not."""

DEFAULT_PAIR_WEIGHTS: Mapping[tuple[str, str], float] = {("O", "0"): 0.5}
"""Share of its partner's probability a confusable character receives (default 0.02 otherwise).

O and 0 are one glyph in many plate fonts (US plates, German FE-Schrift), so the OCR's choice
between them is close to a coin toss; the other pairs differ in shape and the OCR is mostly right.
"""


@dataclass(frozen=True, slots=True)
class SlotRead:
    """The text decoded from one set of slot probabilities."""

    text: str
    confidence: float
    """Mean probability of the chosen symbol over every slot, padding included (0–1)."""
    char_confidences: tuple[float, ...]
    format: PlateFormat | None

    def __repr__(self) -> str:
        """Keep the plate out of logs and tracebacks."""
        return f"SlotRead(len={len(self.text)}, confidence={self.confidence:.2f})"


@dataclass(frozen=True, slots=True)
class FormatTable:
    """Log-priors of formats and of a plate in no format (vanity), by text length."""

    formats: tuple[PlateFormat, ...]
    log_prior: Mapping[PlateFormat, float]
    log_vanity: float
    masks: Mapping[
        int,
        tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], tuple[PlateFormat, ...]],
    ]
    """Per length: which characters each format allows at each slot (slot × char × format,
    shared by every table over the same formats) and the formats' log-priors, so the best
    format of a text is one lookup, an AND over its slots and an argmax."""

    @classmethod
    def build(cls, weights: Mapping[PlateFormat, float], vanity: float) -> FormatTable:
        """Return the table for format weights and the vanity weight (any positive scale)."""
        total = sum(weights.values()) + vanity
        log_prior = {
            fmt: math.log(weight / total) - sum(math.log(len(allowed)) for allowed in fmt.slots)
            for fmt, weight in weights.items()
        }
        return cls(
            tuple(weights), log_prior, math.log(vanity / total), _masks(tuple(weights), log_prior)
        )

    @classmethod
    def uniform(cls, formats: Sequence[PlateFormat], vanity_prior: float) -> FormatTable:
        """Return each country an equal share, spread evenly over its formats."""
        if not formats:
            return FLAT
        per_country: dict[str, int] = {}
        for fmt in formats:
            per_country[fmt.country] = per_country.get(fmt.country, 0) + 1
        share = (1.0 - vanity_prior) / len(per_country)
        return cls.build({f: share / per_country[f.country] for f in formats}, vanity_prior)

    def prior(self, text: str) -> tuple[float, PlateFormat | None]:
        """Return the best log-prior of a text and the format that gives it (None: vanity)."""
        if not self.formats:
            return 0.0, None
        vanity = self.log_vanity - len(text) * math.log(_ALPHANUMERIC)
        masks = self.masks.get(len(text))
        if masks is None or not all(char in _CHAR_INDEX for char in text):
            return vanity, None
        allowed, priors, formats = masks
        fits = allowed[np.arange(len(text)), [_CHAR_INDEX[c] for c in text]].all(axis=0)
        if not fits.any():
            return vanity, None
        best = int(np.argmax(np.where(fits, priors, -np.inf)))
        if priors[best] <= vanity:
            return vanity, None
        return float(priors[best]), formats[best]


_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CHAR_INDEX = {char: i for i, char in enumerate(_CHARS)}


def _masks(
    formats: tuple[PlateFormat, ...], log_prior: Mapping[PlateFormat, float]
) -> dict[int, tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], tuple[PlateFormat, ...]]]:
    """Return per length the slot masks (cached per format set) and the priors, in one order."""
    by_length: dict[int, list[PlateFormat]] = {}
    for fmt in formats:
        by_length.setdefault(fmt.length, []).append(fmt)
    out = {}
    for length, group in by_length.items():
        ordered = tuple(group)
        priors = np.asarray([log_prior[fmt] for fmt in ordered], np.float64)
        out[length] = (_slot_masks(ordered), priors, ordered)
    return out


@cache
def _slot_masks(formats: tuple[PlateFormat, ...]) -> npt.NDArray[np.bool_]:
    """Return slot × character × format: whether the format allows the character there."""
    length = formats[0].length
    mask = np.zeros((length, len(_CHARS), len(formats)), np.bool_)
    for column, fmt in enumerate(formats):
        for slot, allowed in enumerate(fmt.slots):
            mask[slot, [_CHAR_INDEX[c] for c in allowed], column] = True
    mask.setflags(write=False)
    return mask


FLAT = FormatTable((), {}, 0.0, {})
"""No formats: every text is equally likely a priori, the decoder is the OCR's own reading."""


class FormatPrior:
    """How often each format occurs on one camera, learned from its own confident reads.

    Only counts per format are kept, never a plate. Until `warmup` confident reads are in the
    prior is not used; afterwards formats the camera actually sees outweigh the ones it does
    not (Missouri plates on a St. Louis street, Spanish ones in Madrid), and confusables are
    resolved by the formats that matter here. Thread-safe.
    """

    def __init__(
        self,
        formats: Sequence[PlateFormat],
        *,
        warmup: int = 20,
        alpha: float = 2.0,
        min_confidence: float = 0.9,
        refresh: int = 10,
    ) -> None:
        """Learn over these formats (all known ones when the user chose no country)."""
        self.formats = tuple(formats)
        self.warmup = warmup
        self.alpha = alpha
        self.min_confidence = min_confidence
        self.refresh = refresh
        self._counts: dict[PlateFormat, float] = dict.fromkeys(self.formats, 0.0)
        self._by_length: dict[int, list[PlateFormat]] = {}
        for fmt in self.formats:
            self._by_length.setdefault(fmt.length, []).append(fmt)
        self._vanity = 0.0
        self._observed = 0
        self._built_at = 0
        self._table: FormatTable | None = None
        self._lock = threading.Lock()

    @property
    def observed(self) -> int:
        """Return how many confident reads were counted."""
        return self._observed

    def observe(self, text: str, confidence: float) -> None:
        """Count the format(s) of one read if it is confident enough."""
        if confidence < self.min_confidence or not text:
            return
        matching = [fmt for fmt in self._by_length.get(len(text), ()) if fmt.matches(text)]
        with self._lock:
            if matching:
                for fmt in matching:
                    self._counts[fmt] += 1.0 / len(matching)
            else:
                self._vanity += 1.0
            self._observed += 1
            if self._observed >= self.warmup and self._observed - self._built_at >= self.refresh:
                self._table = self._build()
                self._built_at = self._observed

    def fits(self, text: str) -> bool:
        """Return whether canonical text fits one of the formats this prior knows."""
        return any(fmt.matches(text) for fmt in self._by_length.get(len(text), ()))

    def table(self) -> FormatTable | None:
        """Return the learned table, or None while warming up."""
        return self._table

    def counts(self) -> dict[str, float]:
        """Return the counts by format key and pattern (for persistence; no plate inside)."""
        with self._lock:
            out = {f"{fmt.key}:{fmt.pattern}": n for fmt, n in self._counts.items() if n}
            out["vanity"] = self._vanity
            return out

    def load(self, counts: Mapping[str, float]) -> None:
        """Restore counts saved by `counts` (unknown keys are ignored)."""
        by_key = {f"{fmt.key}:{fmt.pattern}": fmt for fmt in self.formats}
        with self._lock:
            for key, value in counts.items():
                if key == "vanity":
                    self._vanity = float(value)
                elif key in by_key:
                    self._counts[by_key[key]] = float(value)
            self._observed = round(sum(self._counts.values()) + self._vanity)
            self._table = self._build() if self._observed >= self.warmup else None
            self._built_at = self._observed

    def _build(self) -> FormatTable:
        smoothing = self.alpha / max(1, len(self.formats))
        weights = {fmt: n + smoothing for fmt, n in self._counts.items()}
        return FormatTable.build(weights, self._vanity + self.alpha)


class SlotDecoder:
    """Pick the likeliest plate text given the OCR, the expected formats and a second opinion.

    The OCR scores each slot on its own, so it cannot know that the third character of a
    Missouri plate is a digit; the formats can. Candidates are the N best slot sequences plus
    the best fill of every format; each is scored by

        log P_ocr(text) + log P_prior(text) [+ hint_bonus if a second OCR read the same text]
                                             [+ length_bonus if it is as long as a confident one]

    where a confusable partner (O for 0, B for 8, ...) lends a slot part of its probability, and
    the prior spreads each country's share evenly over its formats and, inside a format, over
    every string it allows (a vanity plate is any string, at `vanity_prior`). Without formats
    the prior is flat and the decoder is the OCR's own reading.
    """

    def __init__(
        self,
        alphabet: str,
        pad_char: str,
        formats: Sequence[PlateFormat] = (),
        *,
        pair_weights: Mapping[tuple[str, str], float] = DEFAULT_PAIR_WEIGHTS,
        default_pair_weight: float = 0.02,
        vanity_prior: float = 0.1,
        hint_bonus: float = 2.0,
        length_bonus: float = 2.0,
        top_k: int = 3,
        beam: int = 24,
        learner: FormatPrior | None = None,
    ) -> None:
        """Prepare column indices and the log-prior of every format."""
        self.alphabet = alphabet
        self.pad = alphabet.index(pad_char)
        self.formats = tuple(formats)
        self.hint_bonus = hint_bonus
        self.length_bonus = length_bonus
        self._top_k = top_k
        self._beam = beam
        self._index = {char: i for i, char in enumerate(alphabet)}
        self._pairs = [
            (self._index[a], self._index[b], pair_weights.get((a, b), default_pair_weight))
            for a, b in CONFUSABLE_PAIRS
            if a in self._index and b in self._index
        ]
        self.learner = learner
        every = {
            allowed
            for f in (*self.formats, *(learner.formats if learner else ()))
            for allowed in f.slots
        }
        self._class_cols = {
            allowed: np.asarray([self._index[c] for c in allowed if c in self._index], np.intp)
            for allowed in sorted(every)
        }
        self.static_table = FormatTable.uniform(self.formats, vanity_prior)
        self._layouts: dict[
            int,
            tuple[
                FormatTable,
                tuple[
                    tuple[str, ...],
                    npt.NDArray[np.intp],
                    npt.NDArray[np.float32],
                    tuple[PlateFormat, ...],
                ],
            ],
        ] = {}

    def smoothed(self, probs: SlotProbs) -> SlotProbs:
        """Return probabilities where each confusable character borrows from its partner."""
        out = probs.copy()
        for a, b, weight in self._pairs:
            w = np.float32(weight)
            np.maximum(out[:, a], w * probs[:, b], out=out[:, a])
            np.maximum(out[:, b], w * probs[:, a], out=out[:, b])
        return out

    @property
    def table(self) -> FormatTable:
        """Return the priors in use: the learned ones once warm, else the configured ones."""
        learned = self.learner.table() if self.learner is not None else None
        return learned if learned is not None else self.static_table

    def decode(
        self,
        probs: SlotProbs,
        hint: str | None = None,
        hint_confidence: float = 0.0,
        *,
        table: FormatTable | None = None,
    ) -> SlotRead:
        """Return the best reading of one S×K probability matrix.

        `hint` is another recogniser's reading of the same plate (canonical text); agreeing
        with it is worth `hint_bonus` nats. A hint at `LENGTH_HINT_CONFIDENCE` or more also
        settles the length (the OCR's fixed slots repeat or drop a character on short and long
        plates; a CTC recogniser does not): every reading of its length gains `length_bonus`.
        `table` overrides the priors (FLAT: none).
        """
        table = table or self.table
        log_p = np.log(np.maximum(self.smoothed(probs), _FLOOR))
        candidates = self._beam_candidates(log_p)
        if self._keeps_reading(candidates, table):
            table = FLAT
        candidates.update(self._format_candidates(log_p, table))
        if hint and len(hint) <= log_p.shape[0] and all(c in self._index for c in hint):
            candidates.setdefault(hint, self._likelihood(log_p, hint))
        scores = {
            text: likelihood + table.prior(text)[0] for text, likelihood in candidates.items()
        }
        unhinted = max(scores, key=lambda text: scores[text], default="")
        if hint and hint in scores and not self._format_decides(table, unhinted, hint):
            scores[hint] += self.hint_bonus
        if hint and hint_confidence >= LENGTH_HINT_CONFIDENCE and len(unhinted) != len(hint):
            for text in scores:
                if len(text) == len(hint):
                    scores[text] += self.length_bonus
        best_text = max(scores, key=lambda text: scores[text], default="")
        return self._read(log_p, best_text, hint_confidence if best_text == hint else 0.0, table)

    def _keeps_reading(self, candidates: Mapping[str, float], table: FormatTable) -> bool:
        """Return whether the learned formats must leave the OCR's reading as it is.

        Without countries, any country's plate may pass: when the OCR's own best reading already
        fits a known format, no confusable is "corrected" into another format (a Brazilian
        ABC1O23 must not become ABC1023 because the camera mostly sees ABC1234 plates). The
        learned formats still settle readings that fit none.
        """
        learner = self.learner
        if self.formats or learner is None or table is not learner.table() or not candidates:
            return False
        reading = max(candidates, key=lambda text: candidates[text])
        return learner.fits(reading)

    def _format_decides(self, table: FormatTable, text: str, hint: str) -> bool:
        """Return whether a format already settles every character the hint disputes.

        Where the two readings differ only by confusable pairs and the decoder's reading fits a
        format, the position in the format decides (the second OCR sees the same glyph).
        """
        # Only formats the user chose are that certain; learned ones span vanity-like formats.
        if not self.formats or len(text) != len(hint) or table.prior(text)[1] is None:
            return False
        return all(a == b or is_confusable(a, b) for a, b in zip(text, hint, strict=True))

    def _likelihood(self, log_p: npt.NDArray[np.float32], text: str) -> float:
        slots = log_p.shape[0]
        total = sum(float(log_p[i, self._index[c]]) for i, c in enumerate(text))
        return total + float(log_p[len(text) : slots, self.pad].sum())

    def _beam_candidates(self, log_p: npt.NDArray[np.float32]) -> dict[str, float]:
        """Return the `beam` likeliest slot sequences (each slot among its `top_k` symbols)."""
        top = np.argsort(-log_p, axis=1)[:, : self._top_k]
        top_scores = np.take_along_axis(log_p, top, axis=1).astype(np.float64)
        scores = np.zeros(1, np.float64)
        paths = np.zeros((1, 0), np.intp)
        for slot in range(log_p.shape[0]):
            extended = (scores[:, None] + top_scores[slot][None, :]).ravel()
            keep = min(self._beam, extended.size)
            chosen = np.argpartition(-extended, keep - 1)[:keep]
            beam_index, symbol = np.divmod(chosen, top.shape[1])
            scores = extended[chosen]
            paths = np.concatenate((paths[beam_index], top[slot][symbol][:, None]), axis=1)
        pad = self.alphabet[self.pad]
        out: dict[str, float] = {}
        for score, path in zip(scores.tolist(), paths.tolist(), strict=True):
            text = "".join(self.alphabet[c] for c in path).rstrip(pad)
            if pad in text:
                continue  # a gap inside the plate: not a reading the model means
            out[text] = max(score, out.get(text, -math.inf))
        return out

    def _format_candidates(
        self, log_p: npt.NDArray[np.float32], table: FormatTable
    ) -> dict[str, float]:
        """Return the best fill of the likeliest formats (by fill score plus prior)."""
        if not table.formats:
            return {}
        classes, matrix, priors, fmts = self._layout(table, log_p.shape[0])
        if not fmts:
            return {}
        best = np.empty((len(classes) + 1, log_p.shape[0]), np.float32)
        arg = np.empty((len(classes) + 1, log_p.shape[0]), np.intp)
        for row, allowed in enumerate(classes):
            cols = self._class_cols[allowed]
            sub = log_p[:, cols]
            best[row] = sub.max(axis=1)
            arg[row] = cols[sub.argmax(axis=1)]
        best[-1] = log_p[:, self.pad]
        arg[-1] = self.pad
        positions = np.arange(log_p.shape[0])
        scores = best[matrix, positions].sum(axis=1)
        out: dict[str, float] = {}
        for index in np.argsort(-(scores + priors))[:_FORMAT_CANDIDATES]:
            length = fmts[int(index)].length
            symbols = arg[matrix[index, :length], positions[:length]]
            text = "".join(self.alphabet[int(c)] for c in symbols)
            out[text] = max(float(scores[index]), out.get(text, -math.inf))
        return out

    def _layout(
        self, table: FormatTable, slots: int
    ) -> tuple[
        tuple[str, ...], npt.NDArray[np.intp], npt.NDArray[np.float32], tuple[PlateFormat, ...]
    ]:
        """Return (classes, F×S class index per slot with padding last, priors, formats)."""
        cached = self._layouts.get(id(table))
        if cached is not None and cached[0] is table:
            return cached[1]
        fmts = tuple(f for f in table.formats if f.length <= slots)
        classes = tuple(sorted({allowed for f in fmts for allowed in f.slots}))
        index = {allowed: i for i, allowed in enumerate(classes)}
        matrix = np.full((len(fmts), slots), len(classes), np.intp)
        for row, fmt in enumerate(fmts):
            matrix[row, : fmt.length] = [index[allowed] for allowed in fmt.slots]
        priors = np.asarray([table.log_prior[f] for f in fmts], np.float32)
        layout = (classes, matrix, priors, fmts)
        if len(self._layouts) > 4:
            self._layouts.clear()
        self._layouts[id(table)] = (table, layout)
        return layout

    def _read(
        self, log_p: npt.NDArray[np.float32], text: str, floor: float, table: FormatTable
    ) -> SlotRead:
        probs = np.exp(log_p)
        slots = log_p.shape[0]
        confs = [max(float(probs[i, self._index[c]]), floor) for i, c in enumerate(text)]
        pads = [max(float(probs[i, self.pad]), floor) for i in range(len(text), slots)]
        values = confs + pads
        fmt = table.prior(text)[1]
        return SlotRead(text, sum(values) / len(values) if values else 0.0, tuple(confs), fmt)
