"""Frame sources: the FrameSource seam, the PyAV-backed AvSource and their helpers.

AvSource lives in `vigil_core.sources.av_source`; it is not re-exported here so that the
decode package can use the redaction helpers without an import cycle.
"""

from .base import FrameCallback, FrameSource, SourceStats, StateCallback
from .redact import redact_text, redact_url
from .slot import LatestFrameSlot

__all__ = [
    "FrameCallback",
    "FrameSource",
    "LatestFrameSlot",
    "SourceStats",
    "StateCallback",
    "redact_text",
    "redact_url",
]
