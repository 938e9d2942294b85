"""The seam for camera-side event sources (ONVIF analytics, NVR events): start, publish, stop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from vigil_core.events.model import VigilEvent


class EventSource(Protocol):
    """Something that publishes events of its own on the engine's bus, from the engine's loop."""

    async def start(self, publish: Callable[[VigilEvent], None]) -> None:
        """Begin publishing (in a task of the running loop); return at once."""

    async def stop(self) -> None:
        """Stop publishing and release every task, timer and connection."""
