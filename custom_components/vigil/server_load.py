"""A server's load as Home Assistant judges it: saturated, or with room for more cameras.

The server measures (`ServerState`: analysed share, CPU and cores, detector wait, frame
latency, overloaded cameras); these functions only read those typed figures. They feed the
server's diagnostic entities (server_entities.py) and the repair suggestion to move cameras
from a saturated server to one with room (saturation.py).
"""

from __future__ import annotations

from typing import Final

import vigil_protocol as vp

SHARE_MIN: Final = 0.8
"""Below this analysed share of what the cameras ask for, a busy server counts as saturated."""
BUSY_CPU: Final = 0.85
"""...when it also uses at least this share of its cores (a stream sending fewer frames than
asked lowers the share without any CPU: that is not saturation)."""
ROOM_CPU: Final = 0.6
"""A server has room while it uses under this share of its cores..."""
ROOM_SHARE: Final = 0.95
"""...analyses at least this share of what its cameras ask for, and is not overloaded."""


def cpu_share(state: vp.ServerState) -> float | None:
    """Return the share of its cores the server used (0-1), None when it did not say."""
    if state.cpu_percent is None:
        return None
    return state.cpu_percent / 100.0 / max(state.cpu_count or 1, 1)


def saturated(state: vp.ServerState) -> bool:
    """Return whether the server falls behind its cameras now.

    Overloaded (its live cameras drop frames analysis cannot take), or a busy CPU that leaves
    the analysed share under `SHARE_MIN` (file sources wait rather than drop).
    """
    if state.overloaded:
        return True
    busy = cpu_share(state)
    share = state.analysed_share
    return busy is not None and busy >= BUSY_CPU and share is not None and share < SHARE_MIN


def has_room(state: vp.ServerState) -> bool:
    """Return whether the server could take more cameras: idle enough and keeping up."""
    busy = cpu_share(state)
    if state.overloaded or busy is None or busy >= ROOM_CPU:
        return False
    return state.analysed_share is None or state.analysed_share >= ROOM_SHARE
