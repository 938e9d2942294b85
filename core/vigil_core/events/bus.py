"""An async event bus: producers in any thread, consumers on one event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
import logging
import threading

from .model import VigilEvent

_LOGGER = logging.getLogger(__name__)

type Callback = Callable[[VigilEvent], None]
type Unsubscribe = Callable[[], None]


@dataclass(slots=True)
class Subscription:
    """A queue-backed subscription, for consumers that prefer `async for`."""

    queue: asyncio.Queue[VigilEvent] = field(default_factory=asyncio.Queue)

    def __aiter__(self) -> Subscription:
        """Iterate over events as they arrive."""
        return self

    async def __anext__(self) -> VigilEvent:
        """Wait for the next event."""
        return await self.queue.get()


class EventBus:
    """Deliver events to subscribers on one asyncio loop.

    Pipelines run in worker threads; `publish` may be called from any thread and hands the
    event to the loop with `call_soon_threadsafe`, so subscribers always run on the loop and
    never need locks.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the bus to the loop its subscribers run on."""
        self._loop = loop
        self._callbacks: list[Callback] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """Return the loop subscribers run on."""
        return self._loop

    def subscribe(self, callback: Callback) -> Unsubscribe:
        """Call `callback` on the loop for every event; return a function that unsubscribes."""
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    @asynccontextmanager
    async def stream(self) -> AsyncIterator[Subscription]:
        """Yield a subscription whose queue receives every event until the block exits."""
        sub = Subscription()
        unsubscribe = self.subscribe(sub.queue.put_nowait)
        try:
            yield sub
        finally:
            unsubscribe()

    def publish(self, event: VigilEvent) -> None:
        """Hand an event to the subscribers; safe from any thread."""
        if self._closed:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._dispatch(event)
            return
        try:
            self._loop.call_soon_threadsafe(self._dispatch, event)
        except RuntimeError:
            # The loop closed while a pipeline was still finishing a frame.
            _LOGGER.debug("Dropped %s: event loop closed", type(event).__name__)

    def close(self) -> None:
        """Stop delivering events."""
        self._closed = True

    def _dispatch(self, event: VigilEvent) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(event)
            except Exception:
                _LOGGER.exception("Event subscriber %r failed", callback)
