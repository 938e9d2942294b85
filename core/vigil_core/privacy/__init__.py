"""Privacy: what Vigil blanks before it looks and before it keeps or shows anything."""

from .masks import PrivacyMasks

__all__ = ["PrivacyMasks"]
