"""Identities that outlive a tracker id: short disappearances and ids the tracker changed.

When an occlusion is too long for the tracker to coast through, the person comes back under
a new id. Rules that measure time (dwell, routes) or remember a side (line crossing) would
then restart from zero or count a crossing twice. `Continuity` keeps an identity for `gap_s`
after its track vanishes and hands it to a new track that appears where the old one was
heading. The tracker may also start the new id while the old one still coasts on its
prediction: the new track then takes the identity over and the coasting one is ignored until
it ends. It only reads tracks: the tracker is left untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math

from vigil_core.types import BBox, Track

_REACH_HEIGHTS = 1.0
"""How far from the predicted point, in box heights, a new track may appear to continue one."""
_MAX_PREDICT_S = 1.0
"""Motion is extrapolated for at most this long: people stop behind what hides them."""
_EDGE = 0.01
"""A box this close to the frame's border (fraction of its size) can walk out of the picture."""


@dataclass(slots=True)
class _Identity:
    identity: int
    track_id: int
    label: str
    x: float = 0.0
    y: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    height: float = 0.0
    last_s: float = 0.0
    at_edge: bool = False


def _touches_edge(box: BBox, size: tuple[int, int] | None) -> bool:
    if size is None:
        return False
    width, height = size
    return (
        box.x1 <= _EDGE * width
        or box.y1 <= _EDGE * height
        or box.x2 >= (1.0 - _EDGE) * width
        or box.y2 >= (1.0 - _EDGE) * height
    )


class Continuity:
    """Map tracker ids to identities that survive gaps of up to `gap_s` seconds."""

    def __init__(self, gap_s: float) -> None:
        """Keep identities for `gap_s` after their track vanishes (0: end at once)."""
        self.gap_s = gap_s
        self._by_track: dict[int, _Identity] = {}
        self._missing: dict[int, _Identity] = {}
        """Identities whose track vanished, by identity, waiting for a successor."""
        self._retired: set[int] = set()
        """Tracker ids still coasting whose identity a new track took over."""

    def update(
        self, pts_s: float, tracks: Sequence[Track], size: tuple[int, int] | None = None
    ) -> tuple[dict[int, int], list[int]]:
        """Return {tracker id: identity} for these tracks and the identities that ended now.

        Tracks missing from the mapping were replaced by a new track: rules skip them. With
        the frame `size`, an identity whose box last touched the border ends as soon as
        its track vanishes: it walked out of the picture rather than behind something.
        """
        current = {t.track_id for t in tracks}
        self._retired &= current
        ended: list[int] = []
        for track_id in [tid for tid in self._by_track if tid not in current]:
            vanished = self._by_track.pop(track_id)
            if vanished.at_edge:
                ended.append(vanished.identity)
            else:
                self._missing[vanished.identity] = vanished
        mapping: dict[int, int] = {}
        new_tracks: list[Track] = []
        coasting = {t.track_id: t for t in tracks if not t.matched}
        for track in tracks:
            if track.track_id in self._retired:
                continue
            ident = self._by_track.get(track.track_id)
            if ident is None:
                new_tracks.append(track)
                continue
            self._refresh(ident, track, pts_s, size)
            mapping[track.track_id] = ident.identity
        for track in new_tracks:
            found = (
                self._successor_of(track, pts_s)
                or self._take_over(track, coasting, mapping)
                or _Identity(track.track_id, track.track_id, track.label)
            )
            found.track_id = track.track_id
            self._refresh(found, track, pts_s, size)
            self._by_track[track.track_id] = found
            mapping[track.track_id] = found.identity
        expired = [i for i, ident in self._missing.items() if pts_s - ident.last_s >= self.gap_s]
        for identity in expired:
            del self._missing[identity]
        return mapping, ended + expired

    def finish(self) -> list[int]:
        """Return every identity still known (the stream ended) and forget them."""
        ended = [i.identity for i in self._by_track.values()] + list(self._missing)
        self._by_track.clear()
        self._missing.clear()
        return ended

    @staticmethod
    def _refresh(
        ident: _Identity, track: Track, pts_s: float, size: tuple[int, int] | None
    ) -> None:
        ident.x, ident.y = track.bbox.bottom_center
        ident.vx, ident.vy = track.velocity
        ident.height = track.bbox.height
        ident.label = track.label
        ident.last_s = pts_s
        ident.at_edge = _touches_edge(track.bbox, size)

    def _take_over(
        self, track: Track, coasting: dict[int, Track], mapping: dict[int, int]
    ) -> _Identity | None:
        """Return the identity of a coasting track this new track replaces, if it is that close."""
        if not track.matched:
            return None
        x, y = track.bbox.bottom_center
        best: tuple[float, int] | None = None
        for track_id, old in coasting.items():
            ident = self._by_track.get(track_id)
            if ident is None or old.label != track.label:
                continue
            ox, oy = old.bbox.bottom_center
            dist = math.hypot(x - ox, y - oy)
            if dist <= _REACH_HEIGHTS * max(old.bbox.height, track.bbox.height) and (
                best is None or dist < best[0]
            ):
                best = (dist, track_id)
        if best is None:
            return None
        self._retired.add(best[1])
        mapping.pop(best[1], None)
        return self._by_track.pop(best[1])

    def _successor_of(self, track: Track, pts_s: float) -> _Identity | None:
        """Return the vanished identity this new track most plausibly continues, if any."""
        x, y = track.bbox.bottom_center
        best: tuple[float, int] | None = None
        for identity, ident in self._missing.items():
            gap = pts_s - ident.last_s
            if gap > self.gap_s or ident.label != track.label:
                continue
            ahead = min(gap, _MAX_PREDICT_S)
            px, py = ident.x + ident.vx * ahead, ident.y + ident.vy * ahead
            reach = _REACH_HEIGHTS * max(ident.height, track.bbox.height)
            # Where it stopped or where it was heading: people often wait behind what hides them.
            dist = min(math.hypot(x - px, y - py), math.hypot(x - ident.x, y - ident.y))
            if dist <= reach and (best is None or dist < best[0]):
                best = (dist, identity)
        if best is None:
            return None
        return self._missing.pop(best[1])
