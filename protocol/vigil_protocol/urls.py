"""Credentials in a stream URL, read the way a person types them.

A camera's password may hold an unencoded ``#``, ``/``, ``?`` or ``@``. A URL parser ends the
authority at the first ``/``, ``?`` or ``#``, so ``rtsp://admin:pa#ss@cam/stream`` would have no
credentials and the host ``admin``. Here the userinfo runs to the last ``@`` instead, provided
what precedes it starts like ``user:`` (not ``host:port/…``) and what follows it starts with a
host. The server and Home Assistant read a URL the same way with these functions.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_HOST = re.compile(r"[A-Za-z0-9._~%!$&'()*+,;=:\[\]-]+")
_PORT_PATH = re.compile(r"(\d{1,5})(?:[/?#]|$)")


def authority_end(text: str) -> int:
    """Return where the authority of the text after ``scheme://`` ends: at ``/``, ``?`` or ``#``."""
    ends = [i for i in (text.find(c) for c in "/?#") if i >= 0]
    return min(ends, default=len(text))


def split_userinfo(rest: str) -> tuple[str | None, str]:
    """Return (userinfo, the rest without it) of the text after ``scheme://``."""
    end = authority_end(rest)
    at = rest.rfind("@", 0, end)
    if at >= 0:
        return rest[:at], rest[at + 1 :]
    at = rest.rfind("@")
    if at < 0:
        return None, rest
    before, after = rest[:at], rest[at + 1 :]
    user, colon, secret = before.partition(":")
    if not user or any(char in user for char in "/?#[]"):  # not a user name: a path, [IPv6]
        return None, rest
    if colon and _is_port_path(secret):
        return None, rest  # host:port/path?…@…: an @ in the path or query, not credentials
    host = after[: authority_end(after)]
    if not host or not _HOST.fullmatch(host):
        return None, rest
    return before, after


def ambiguous_at(rest: str) -> bool:
    """Return whether ``host:port/…@…`` could also be a password holding an unencoded ``/``.

    `rest` is what follows ``scheme://`` once the userinfo is split off. Such a URL is refused
    where it is kept: percent-encoding the password's ``/`` (or the path's ``@``) settles it.
    """
    end = authority_end(rest)
    if "@" not in rest[end:]:
        return False
    head, colon, tail = rest.partition(":")
    return bool(colon) and "/" not in head and _is_port_path(tail)


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Return the URL without its userinfo, and the username and password it carried.

    Percent-escapes in the credentials are decoded; a URL without ``scheme://`` or without
    credentials comes back as given (stripped), with None for both.
    """
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text, None, None
    userinfo, rest = split_userinfo(rest)
    if userinfo is None:
        return text, None, None
    user, colon, secret = userinfo.partition(":")
    return (
        f"{scheme}://{rest}",
        unquote(user) if user else None,
        unquote(secret) if colon and secret else None,
    )


def _is_port_path(text: str) -> bool:
    """Return whether text starts like ``554/…``: a valid port, then the path (or nothing)."""
    match = _PORT_PATH.match(text)
    return match is not None and 0 < int(match.group(1)) <= 65535
