"""Hide credentials in stream URLs before they reach a log line, an error or an event."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# Query parameters that cameras and NVRs use for credentials and tokens.
SECRET_KEYS = re.compile(
    r"(pass|pwd|secret|token|key|auth|sig|session|user|usr|login|account|cred)",
    re.IGNORECASE,
)

# A URL inside free text, e.g. in an FFmpeg error message; stops at whitespace and quotes.
URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """Return the URL with its user:password and secret query values replaced by ***."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return _redact_crudely(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if SECRET_KEYS.search(k) else v) for k, v in pairs], safe="*/:,"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Return the text with every URL in it redacted."""
    return URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def _redact_crudely(url: str) -> str:
    """Redact a URL that urlsplit refuses (e.g. a malformed IPv6 host)."""
    scheme, rest = url.split("://", 1)
    head, sep, tail = rest.partition("/")
    if "@" in head:
        head = f"{MASK}@{head.rsplit('@', 1)[1]}"
    tail = tail.split("?", 1)[0] + ("?" + MASK if "?" in tail else "")
    return f"{scheme}://{head}{sep}{tail}"
