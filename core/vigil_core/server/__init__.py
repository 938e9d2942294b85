"""The Vigil server: one engine behind Vigil's typed protocol (`vigil-analytics serve`)."""

from .app import ConfigRejected, ServerSettings, VigilServer
from .board import StateBoard
from .data import DataFolder

__all__ = ["ConfigRejected", "DataFolder", "ServerSettings", "StateBoard", "VigilServer"]
