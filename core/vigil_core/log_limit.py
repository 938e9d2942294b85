"""Log a recurring problem once per interval, with the count of repeats held back meanwhile.

A camera, a broker or a server can send the same bad input many times a second; one line per
message would flood the log (and the disk) while saying nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import logging
import threading
import time

DEFAULT_INTERVAL_S = 300.0


@dataclass(slots=True)
class RateLimitedLog:
    """One logger's lines per key: the first at `level`, repeats at debug until `interval_s`."""

    logger: logging.Logger
    level: int = logging.WARNING
    interval_s: float = DEFAULT_INTERVAL_S
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _last: dict[str, float] = field(default_factory=dict, repr=False)
    _held: dict[str, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def log(self, key: str, message: str, *args: object, exc_info: bool = False) -> bool:
        """Log `message % args` for `key`; return whether it went out at `level`."""
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            loud = last is None or now - last >= self.interval_s
            if loud:
                self._last[key] = now
                held = self._held.pop(key, 0)
            else:
                self._held[key] = self._held.get(key, 0) + 1
                held = 0
        if not loud:
            self.logger.debug(message, *args, exc_info=exc_info)
            return False
        if held:
            message += " (%d more like it since the last such line)"
            args = (*args, held)
        self.logger.log(self.level, message, *args, exc_info=exc_info)
        return True
