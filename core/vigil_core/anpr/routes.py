"""Routes of watched plates across cameras: seen at A, then at B within a time limit."""

from __future__ import annotations

from dataclasses import dataclass, field
import threading
import uuid


@dataclass(frozen=True, slots=True)
class RouteHop:
    """A watched plate reached another camera within the window: one step of one route."""

    route_id: str
    entry_id: str
    cameras: tuple[str, ...]
    """Every camera of the route so far, in order (the last one is where it is now)."""
    elapsed_s: float
    """Seconds since the previous camera."""
    started_at: float


@dataclass(slots=True)
class _Trail:
    route_id: str
    cameras: list[str] = field(default_factory=list)
    started_at: float = 0.0
    last_at: float = 0.0


class RouteTracker:
    """Follow each watchlist entry's sightings across cameras (shared by every camera).

    Consecutive sightings on one camera extend the stay there; a sighting on another camera
    within `window_s` of the previous one continues the same route (same id), so A → B → C is
    one route reported as it grows. Keyed by watchlist entry, never by plate text.
    """

    def __init__(self, window_s: float) -> None:
        """Keep routes whose hops are at most `window_s` apart (0 disables routes)."""
        self.window_s = window_s
        self._trails: dict[str, _Trail] = {}
        self._lock = threading.Lock()

    def observe(self, entry_id: str, camera_id: str, at: float) -> RouteHop | None:
        """Record a match of `entry_id` at `camera_id`; return the hop when it moved on."""
        if self.window_s <= 0:
            return None
        with self._lock:
            self._expire(at)
            trail = self._trails.get(entry_id)
            if trail is None or at - trail.last_at > self.window_s:
                self._trails[entry_id] = _Trail(uuid.uuid4().hex[:12], [camera_id], at, at)
                return None
            previous = trail.last_at
            trail.last_at = at
            if trail.cameras[-1] == camera_id:
                return None
            trail.cameras.append(camera_id)
            return RouteHop(
                trail.route_id, entry_id, tuple(trail.cameras), at - previous, trail.started_at
            )

    def _expire(self, now: float) -> None:
        stale = [key for key, trail in self._trails.items() if now - trail.last_at > self.window_s]
        for key in stale:
            del self._trails[key]
