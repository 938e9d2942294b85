"""Small persisted state of the engine (line-crossing totals)."""

from .counters import CounterStore

__all__ = ["CounterStore"]
