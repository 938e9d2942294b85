"""Decoding with PyAV: open, probe, decode, sample by timestamps, resize and convert to RGB."""

from .av_decoder import AvDecoder, ProbeResult, Transport, classify_error, grab_frame, probe
from .convert import fit_size, to_rgb
from .timing import RateMeter, RateSampler, StreamClock

__all__ = [
    "AvDecoder",
    "ProbeResult",
    "RateMeter",
    "RateSampler",
    "StreamClock",
    "Transport",
    "classify_error",
    "fit_size",
    "grab_frame",
    "probe",
    "to_rgb",
]
