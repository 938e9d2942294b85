"""The Vigil server: one engine behind Vigil's typed protocol (`vigil-analytics serve`).

`app.VigilServer` runs it (`app.ServerSettings` says how), `board.StateBoard` keeps the states it
publishes, `data.DataFolder` what survives a restart. Nothing is imported here, so the `token`
command starts without loading the engine.
"""

from typing import Any

_LAZY = {
    "VigilServer": "app",
    "ServerSettings": "app",
    "ConfigRejected": "errors",
    "StateBoard": "board",
    "DataFolder": "data",
}


def __getattr__(name: str) -> Any:
    """Import the server's parts on first use (`from vigil_core.server import VigilServer`)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module  # noqa: PLC0415

    return getattr(import_module(f"{__name__}.{module}"), name)
