"""The one module that talks HTTP: GET a URL and return its JSON object.

It is also the boundary where httpx exceptions become :class:`FetchError`.

Safe defaults are visible here: redirects are never followed (a redirect could
move a key fetch to another origin), every request has a timeout, and bodies
are capped in size.  Log lines name the host and path only, never the query
string (which carries the nonce) or the body.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from attestation._json import parse_object
from attestation._types import JSONObject
from attestation.errors import FetchError

__all__ = [
    "DEFAULT_TIMEOUT_SECS",
    "MAX_BODY_BYTES",
    "Fetched",
    "fetch_json",
    "get_json",
    "open_client",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECS = 10.0
"""Connect, read, write and pool timeout for every request."""

MAX_BODY_BYTES = 1024 * 1024
"""Largest response body read; tokens and key sets are a few kilobytes."""


def open_client() -> httpx.Client:
    """Return an HTTP client with the package's safe defaults.

    TLS certificates are verified against the system trust store (httpx also
    honours ``SSL_CERT_FILE``).
    """
    return httpx.Client(
        follow_redirects=False,
        timeout=DEFAULT_TIMEOUT_SECS,
        headers={"accept": "application/json"},
    )


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A JSON object and the certificate of the connection it came over."""

    body: JSONObject
    peer_certificate: bytes | None
    """DER certificate the server presented on that connection; ``None`` without TLS."""


def _peer_certificate(response: httpx.Response) -> bytes | None:
    # NOTE: read while the response is open, so it is the connection that carried this body.
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    # Positional: httpcore hands out the low-level _ssl object, which takes no keywords.
    der: bytes | None = ssl_object.getpeercert(True)
    return der


def get_json(client: httpx.Client, url: str) -> JSONObject:
    """GET ``url`` and return its body parsed as one strict JSON object.

    Raises:
        FetchError: as :func:`fetch_json`.
    """
    return fetch_json(client, url).body


def fetch_json(client: httpx.Client, url: str) -> Fetched:
    """GET ``url``: its body parsed as one strict JSON object, and the server's certificate.

    Raises:
        FetchError: the request failed or timed out, the status is not 200,
            the body is larger than :data:`MAX_BODY_BYTES`, or it is not a
            JSON object.
    """
    where = _where(url)
    try:
        with client.stream("GET", url) as response:
            if response.status_code != httpx.codes.OK:
                raise FetchError(f"GET {where} answered {response.status_code}, expected 200")
            peer = _peer_certificate(response)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise FetchError(f"GET {where}: body larger than {MAX_BODY_BYTES} bytes")
    except httpx.TimeoutException as exc:
        raise FetchError(f"GET {where} timed out") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FetchError(f"GET {where} failed: {type(exc).__name__}") from exc
    except ValueError as exc:
        # httpx raises ValueError subclasses for some malformed responses.
        raise FetchError(f"GET {where} failed: {exc}") from exc
    try:
        obj = parse_object(bytes(body))
    except ValueError as exc:
        raise FetchError(f"GET {where}: body is not a JSON object ({exc})") from exc
    logger.debug("fetched %s (%d bytes)", where, len(body))
    return Fetched(obj, peer)
