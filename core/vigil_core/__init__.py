"""Vigil's engine: shared ONNX video analytics over the cameras you already own.

The public face, what a program using the engine needs (`vigil-analytics serve` is one):

- `Engine`: start it with an `EngineConfig`, `apply` a new one (only changed cameras restart),
  read its `EngineLoad` and `CameraStatus`, stop it. Its bus carries the `VigilEvent`s
  (`RuleEvent`, `SourceStateEvent`, `RuleStateEvent`, `ChannelEvent`); the rules' state is
  given as the protocol's typed values (`StateValue`, from `vigil_protocol`).
- The configuration: `EngineConfig`, `CameraSpec`, `load_config` (a YAML file); everything else
  in `vigil_core.config`.
- The errors: `VigilError` and its families (`ConfigInvalid`, `SourceError`, `ModelError`,
  `StorageError`); each carries a translation key.

Names load on first use, so importing a module of the engine (the command line's `--help`, a
configuration check) does not load the models' runtime. docs/architecture.md draws the packages
and what each may import.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil_protocol import StateValue

    from .config import CameraSpec, EngineConfig
    from .config.file import load_config
    from .engine import AppliedChanges, CameraStatus, Engine, EngineLoad, RestartRequired
    from .errors import ConfigInvalid, ModelError, SourceError, StorageError, VigilError
    from .events.model import (
        ChannelEvent,
        EventPhase,
        RuleEvent,
        RuleStateEvent,
        SourceState,
        SourceStateEvent,
        VigilEvent,
    )

_PUBLIC = {
    "AppliedChanges": "vigil_core.engine",
    "CameraSpec": "vigil_core.config",
    "CameraStatus": "vigil_core.engine",
    "ChannelEvent": "vigil_core.events.model",
    "ConfigInvalid": "vigil_core.errors",
    "Engine": "vigil_core.engine",
    "EngineConfig": "vigil_core.config",
    "EngineLoad": "vigil_core.engine",
    "EventPhase": "vigil_core.events.model",
    "ModelError": "vigil_core.errors",
    "RestartRequired": "vigil_core.engine",
    "RuleEvent": "vigil_core.events.model",
    "RuleStateEvent": "vigil_core.events.model",
    "SourceError": "vigil_core.errors",
    "SourceState": "vigil_core.events.model",
    "SourceStateEvent": "vigil_core.events.model",
    "StateValue": "vigil_protocol",
    "StorageError": "vigil_core.errors",
    "VigilError": "vigil_core.errors",
    "VigilEvent": "vigil_core.events.model",
    "load_config": "vigil_core.config.file",
}

__all__ = [
    "AppliedChanges",
    "CameraSpec",
    "CameraStatus",
    "ChannelEvent",
    "ConfigInvalid",
    "Engine",
    "EngineConfig",
    "EngineLoad",
    "EventPhase",
    "ModelError",
    "RestartRequired",
    "RuleEvent",
    "RuleStateEvent",
    "SourceError",
    "SourceState",
    "SourceStateEvent",
    "StateValue",
    "StorageError",
    "VigilError",
    "VigilEvent",
    "load_config",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'vigil_core' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
