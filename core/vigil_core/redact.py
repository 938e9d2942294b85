"""Keep credentials out of stream URLs: split them out on arrival, put them back only to open.

`StreamAddress` splits a URL into a credential-free URL (what logs, errors and events show) and
its secrets: the userinfo (``user:password@``, even with an unencoded ``#``, ``/``, ``?`` or ``@``
in the password), and the values of credential parameters in the path or the query — Dahua's
``/user=admin_password=…_channel=1``, ``;pwd=…``, ``?u=…&p=…``, ``?token=…``. Those values are
replaced by ``***`` in the URL. `StreamAddress.authenticated` composes the URL the camera needs;
only the decoder calls it, right before opening the stream.

`redact_url` and `redact_text` apply the same split to strings from outside (an FFmpeg message,
a URL a host passes in) and keep only the credential-free part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import re
from urllib.parse import quote, unquote

from vigil_protocol.urls import ambiguous_at, authority_end, split_userinfo

MASK = "***"

# Query and path parameters that cameras and NVRs use for credentials and tokens. Matching too
# much is harmless (the value is still sent to the camera, only shown masked).
SECRET_KEYS = re.compile(
    r"(pass|pwd|secret|token|key|auth|sig|session|user|usr|login|account|cred)",
    re.IGNORECASE,
)
SHORT_SECRET_KEYS = frozenset({"u", "p", "pw", "pin"})
"""Exact keys too short to search for inside others (``?u=admin&p=…``)."""

# A URL inside free text, e.g. in an FFmpeg error message: it runs to the next whitespace,
# quotes included (a password may hold one), and loses the quotes and punctuation that close it.
URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://\S+")
_URL_CLOSERS = "'\",;)]}>"

# Dahua's path form runs key=value pairs together with underscores; a value may hold an
# underscore itself, so a pair ends only where the next `_key=` starts.
_DAHUA_PAIR = re.compile(r"_(?=[A-Za-z][A-Za-z0-9]*=)")
_QUERY_SEPARATOR = re.compile(r"([&;])")


def is_secret_key(key: str) -> bool:
    """Return whether a parameter of this name carries a credential or a token."""
    name = unquote(key).strip().lower()
    return name in SHORT_SECRET_KEYS or bool(SECRET_KEYS.search(name))


@dataclass(frozen=True, slots=True)
class StreamAddress:
    """A stream's URL without its credentials, and the credentials apart.

    `url` never holds a secret: the userinfo is left out and each secret value in the path or
    the query is replaced by ``***``; `url_secrets` holds those values (as written in the URL,
    in order). `display` is `url` with ``***@`` where credentials were given.
    """

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    url_secrets: tuple[str, ...] = field(default=(), repr=False)
    _pieces: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """`url` cut at its masks: len(url_secrets) + 1 pieces (empty when it has no secret)."""

    @classmethod
    def parse(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        strict: bool = False,
    ) -> StreamAddress:
        """Split a URL into its credential-free form and its secrets.

        `username` and `password` given apart join those of the URL; both at once must agree.
        With `strict` (a URL to keep and open), ValueError refuses a URL that already holds
        ``***`` (a redacted URL pasted back: it could not be told from the masks later), and
        one whose ``@`` after ``host:port/`` may end a password or belong to the path.
        """
        text = url.strip()
        if "://" not in text or text.lower().startswith("file://"):
            return cls(text, username, password)
        if strict and MASK in text:
            raise ValueError(f"the url holds '{MASK}' (a redacted URL?): give the URL itself")
        scheme, rest = text.split("://", 1)
        userinfo, rest = split_userinfo(rest)
        if strict and ambiguous_at(rest):  # what is left is what is kept (and parsed again)
            raise ValueError(
                "the url has an '@' after its host and port: percent-encode a '/', '?' or '#' "
                "in the password (or give the password apart), or an '@' of the path as %40"
            )
        if userinfo is not None:
            user, colon, secret = userinfo.partition(":")
            username = _agree(username, unquote(user) if user else None, "username")
            password = _agree(password, unquote(secret) if colon else None, "password")
        pieces, secrets = _mask_secrets(rest)
        return cls(
            f"{scheme}://{MASK.join(pieces)}",
            username,
            password,
            tuple(secrets),
            (f"{scheme}://{pieces[0]}", *pieces[1:]) if secrets else (),
        )

    @classmethod
    def of(
        cls,
        url: str,
        username: str | None = None,
        password: str | None = None,
        url_secrets: tuple[str, ...] = (),
    ) -> StreamAddress:
        """Return the address of parts split before (a validated SourceSpec's)."""
        pieces = tuple(url.split(MASK)) if url_secrets else ()
        if url_secrets and len(pieces) != len(url_secrets) + 1:
            raise ValueError(f"the url has {len(pieces) - 1} '{MASK}' for {len(url_secrets)}")
        return cls(url, username, password, tuple(url_secrets), pieces)

    @property
    def has_credentials(self) -> bool:
        """Return whether any secret is held apart from the URL."""
        return self.username is not None or self.password is not None or bool(self.url_secrets)

    @property
    def display(self) -> str:
        """Return the URL for logs, errors and events: no secret, ``***@`` for the userinfo.

        An ``@`` left after the host (``rtsp://admin:1234/x@cam/s``, which no parser reads as
        credentials) may still end a password typed unencoded: everything before the last one
        is masked too. Over-masking a log line costs nothing; a password in it does.
        """
        if "://" not in self.url:
            return self.url
        scheme, rest = self.url.split("://", 1)
        if "@" in rest:
            return f"{scheme}://{MASK}@{rest.rpartition('@')[2]}"
        if self.username is None and self.password is None:
            return self.url
        return f"{scheme}://{MASK}@{rest}"

    def authenticated(self) -> str:
        """Return the URL with its credentials, for opening the stream (and nothing else)."""
        text = self.url
        if self.url_secrets:
            parts = [self._pieces[0]]
            for secret, piece in zip(self.url_secrets, self._pieces[1:], strict=True):
                parts += [secret, piece]
            text = "".join(parts)
        if (self.username is None and self.password is None) or "://" not in text:
            return text
        scheme, rest = text.split("://", 1)
        userinfo = quote(self.username or "", safe="")
        if self.password is not None:
            userinfo += ":" + quote(self.password, safe="")
        return f"{scheme}://{userinfo}@{rest}"

    def __str__(self) -> str:
        """Return the display form: a StreamAddress formatted anywhere shows no secret."""
        return self.display


def redact_url(url: str) -> str:
    """Return the URL with its credentials (userinfo, secret parameters) replaced by ***."""
    if "://" not in url:
        return url
    try:
        return StreamAddress.parse(url).display
    except Exception:  # a string from outside must never break the line that logs it
        scheme = url.split("://", 1)[0]
        return f"{scheme}://{MASK}"


def redact_text(text: str) -> str:
    """Return the text with every URL in it redacted."""
    return URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    found = match.group(0)
    url = found.rstrip(_URL_CLOSERS)
    return redact_url(url) + found[len(url) :]


def _agree(given: str | None, found: str | None, what: str) -> str | None:
    """Return the credential given apart or found in the URL; both must be the same."""
    if given is not None and found is not None and given != found:
        raise ValueError(f"the {what} is given twice (in the url and apart), differently")
    return given if given is not None else found


def _mask_secrets(rest: str) -> tuple[list[str], list[str]]:
    """Cut the authority, path and query at each secret value; return (pieces, secrets)."""
    end = authority_end(rest)
    head, tail = rest[:end], rest[end:]
    tail, hash_mark, fragment = tail.partition("#")
    path, question, query = tail.partition("?")
    pieces: list[str] = [head]
    secrets: list[str] = []
    for index, segment in enumerate(path.split("/")):
        if index:
            pieces[-1] += "/"
        _mask_segment(segment, pieces, secrets)
    if question:
        pieces[-1] += "?"
        _mask_pairs(_QUERY_SEPARATOR.split(query), pieces, secrets)
    pieces[-1] += hash_mark + fragment
    return pieces, secrets


def _mask_segment(segment: str, pieces: list[str], secrets: list[str]) -> None:
    """Mask a path segment's ``;key=value`` parameters and Dahua ``key=value_…`` pairs."""
    name, *params = segment.split(";")
    if "=" in name:
        tokens = _DAHUA_PAIR.split(name)
        _mask_pairs([part for token in tokens for part in (token, "_")][:-1], pieces, secrets)
    else:
        pieces[-1] += name
    for param in params:
        pieces[-1] += ";"
        _mask_pairs([param], pieces, secrets)


def _mask_pairs(parts: list[str], pieces: list[str], secrets: list[str]) -> None:
    """Append ``key=value`` parts (separators in between), masking the secret values."""
    for part in parts:
        key, equals, value = part.partition("=")
        if equals and value and is_secret_key(key):
            pieces[-1] += key + equals
            secrets.append(value)
            pieces.append("")
        else:
            pieces[-1] += part
