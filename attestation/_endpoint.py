"""HTTPS origins: the attestation endpoint and the instance being verified.

An :class:`Origin` is a scheme, host and port, and nothing else.  Attestation
endpoints are written in three ways in the wild and all mean the same origin::

    >>> Origin.parse("sharedeus.eus.attest.azure.net").url
    'https://sharedeus.eus.attest.azure.net'
    >>> Origin.parse("https://sharedeus.eus.attest.azure.net/").url
    'https://sharedeus.eus.attest.azure.net'

NOTE: only ``https`` is accepted.  The signing keys of an attestation endpoint
are trusted because they were fetched over TLS from that endpoint; over plain
HTTP anyone on the path could hand us their own keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from attestation.errors import InputError

__all__ = ["Origin"]

_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\]")
_DEFAULT_HTTPS_PORT = 443


def _split(text: str) -> SplitResult:
    if not text.isascii() or any(ch.isspace() for ch in text):
        raise ValueError("must be plain ASCII without spaces")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme != "https":
        raise ValueError("scheme must be https")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("must not carry a query or fragment")
    return parts


@dataclass(frozen=True, slots=True)
class Origin:
    """An HTTPS origin in canonical form: ``https://host`` or ``https://host:port``."""

    url: str

    def __post_init__(self) -> None:
        parsed = Origin.parse(self.url)
        if parsed.url != self.url:
            raise InputError(f"origin {self.url!r} is not canonical; use {parsed.url!r}")

    @classmethod
    def parse(cls, text: str) -> Origin:
        """Parse a bare host name or an HTTPS URL with an empty path.

        Raises:
            InputError: the text is not an HTTPS origin.
        """
        try:
            parts = _split(text)
            if parts.path not in ("", "/"):
                raise ValueError("must not carry a path")
            url = _canonical(parts)
        except ValueError as exc:
            raise InputError(f"not an https origin: {text!r} ({exc})") from exc
        origin = object.__new__(cls)
        object.__setattr__(origin, "url", url)
        return origin

    def owns(self, url: str) -> bool:
        """Whether ``url`` is an HTTPS URL on exactly this origin."""
        try:
            parts = _split(url)
            return _canonical(parts) == self.url
        except ValueError:
            return False

    def join(self, path: str) -> str:
        """Return the URL of ``path`` (which starts with ``/``) on this origin."""
        if not path.startswith("/"):
            raise ValueError("path must start with /")
        return self.url + path


def _canonical(parts: SplitResult) -> str:
    host = parts.hostname
    if host is None or parts.netloc.endswith(":"):
        raise ValueError("missing host or port")
    bracketed = f"[{host}]" if ":" in host else host
    if _HOST.fullmatch(bracketed) is None:
        raise ValueError("invalid host")
    port = parts.port  # raises ValueError for a port out of range
    if port is None or port == _DEFAULT_HTTPS_PORT:
        return f"https://{bracketed}"
    return f"https://{bracketed}:{port}"
