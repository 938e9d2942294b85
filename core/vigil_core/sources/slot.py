"""A one-frame mailbox between a live source and a slower consumer."""

from __future__ import annotations

import threading

from vigil_core.types import Frame


class LatestFrameSlot:
    """Hold the newest frame only: put() never blocks, get() waits.

    A live camera cannot wait for analysis: when the consumer falls behind, the unconsumed
    frame is replaced (and counted as dropped) so the consumer always sees the present.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        """Store the frame, replacing one nobody has taken yet."""
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify()

    def get(self, timeout: float | None = None) -> Frame | None:
        """Return the newest frame, waiting up to timeout; None on timeout or once closed."""
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._frame is not None or self._closed, timeout=timeout
            ):
                return None
            frame, self._frame = self._frame, None
            return frame

    def close(self) -> None:
        """Wake every waiting get(); later gets return what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Return whether close() was called."""
        return self._closed
