"""Check that a stream's host accepts TCP connections, in a way a stop request can cut short.

PyAV can only abandon a blocked open when its own timeout expires, so a powered-off camera
would hold a stopping source for the whole open timeout. A non-blocking connect polled in short
steps finds the common failures (host down, port closed) first and honours the stop flag.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import threading
import time
from urllib.parse import urlsplit

from vigil_core.errors import SourceTimeout, SourceUnavailable
from vigil_core.redact import redact_url

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "http": 80, "https": 443}
STEP_S = 0.25


class Cancelled(Exception):
    """The wait was cancelled by a stop request."""


def host_port(url: str) -> tuple[str, int] | None:
    """Return the (host, port) a network URL connects to, or None for files and odd URLs."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or scheme not in DEFAULT_PORTS:
        return None
    return parts.hostname, port or DEFAULT_PORTS[scheme]


def wait_reachable(url: str, *, timeout_s: float, cancel: threading.Event) -> None:
    """Return once the URL's host accepts a TCP connection.

    Raise SourceUnavailable if it refuses or does not answer within timeout_s, and Cancelled
    as soon as `cancel` is set.
    """
    target = host_port(url)
    if target is None:
        return
    safe_url = redact_url(url)
    deadline = time.monotonic() + timeout_s
    try:
        infos = socket.getaddrinfo(*target, type=socket.SOCK_STREAM)
    except OSError:
        raise _unavailable(safe_url, "host name not found") from None
    reason = "host unreachable"
    for family, kind, proto, _name, address in infos:
        try:
            _connect(family, kind, proto, address, deadline=deadline, cancel=cancel)
        except OSError as err:
            reason = _reason(err)
            continue
        return
    raise _unavailable(safe_url, reason)


def _connect(
    family: socket.AddressFamily,
    kind: socket.SocketKind,
    proto: int,
    address: tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes],
    *,
    deadline: float,
    cancel: threading.Event,
) -> None:
    with socket.socket(family, kind, proto) as sock:
        sock.setblocking(False)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            raise OSError(code, errno.errorcode.get(code, "connect failed"))
        while code != 0:
            if cancel.is_set():
                raise Cancelled
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(errno.ETIMEDOUT, "timed out")
            _, writable, _ = select.select([], [sock], [], min(STEP_S, remaining))
            if writable:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, errno.errorcode.get(code, "connect failed"))
                break
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _reason(err: OSError) -> str:
    if isinstance(err, TimeoutError) or err.errno == errno.ETIMEDOUT:
        return "timed out"
    if err.errno == errno.ECONNREFUSED:
        return "connection refused"
    return "host unreachable"


def _unavailable(safe_url: str, reason: str) -> SourceUnavailable:
    error_type = SourceTimeout if reason == "timed out" else SourceUnavailable
    return error_type(f"{safe_url}: {reason}", {"url": safe_url, "reason": reason})
