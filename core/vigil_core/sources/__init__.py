"""Frame sources: the FrameSource seam, the PyAV-backed AvSource and their helpers.

AvSource lives in `vigil_core.sources.av_source`; it is not re-exported here, so that importing
the seam does not load the decoder. Camera-side event feeds (ONVIF, Frigate) are in
`vigil_core.feeds`; credential redaction is the leaf module `vigil_core.redact`.
"""

from vigil_core.redact import redact_text, redact_url
from vigil_core.sources.base import FrameCallback, FrameSource, SourceStats, StateCallback
from vigil_core.sources.slot import LatestFrameSlot

__all__ = [
    "FrameCallback",
    "FrameSource",
    "LatestFrameSlot",
    "SourceStats",
    "StateCallback",
    "redact_text",
    "redact_url",
]
