"""Privacy safeguards at run time: masks, purposes, deployment contexts, retention, access log.

The documents written from them (assessment, signage) are in `vigil_core.compliance`.
"""

from vigil_core.privacy.masks import PrivacyMasks

__all__ = ["PrivacyMasks"]
