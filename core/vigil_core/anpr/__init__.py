"""Number-plate reading: detection, OCR, per-passage votes, watchlist, privacy-mode stores.

The stage (`stage.AnprStage`) runs after tracking; the engine owns one `runtime.AnprRuntime`
shared by every camera. Nothing in this package logs, raises or reprs a plate's text.
"""
