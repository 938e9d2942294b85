"""Typed events and the bus that carries them to consumers."""

from .bus import EventBus, Subscription
from .model import (
    AttrValue,
    EventPhase,
    RuleEvent,
    SourceState,
    SourceStateEvent,
    VigilEvent,
)

__all__ = [
    "AttrValue",
    "EventBus",
    "EventPhase",
    "RuleEvent",
    "SourceState",
    "SourceStateEvent",
    "Subscription",
    "VigilEvent",
]
