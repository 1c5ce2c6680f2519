"""Refuse requests whose body length or host is ambiguous, whichever server parsed them.

``tap-proxy`` serves ``app.framing:app``: TAP's ASGI app behind this check.
The HTTP parsers disagree on the shapes request smuggling uses. h11
(Hypercorn) accepts a request with both ``Content-Length`` and
``Transfer-Encoding`` and lets the latter win; httptools (Uvicorn) accepts a
request with no ``Host`` or with two. A proxy in front of TAP that reads such
a request the other way would see a different request boundary or target, so
TAP refuses them all with 400 ``bad_request`` and closes the connection,
before any of its own code sees the request.
"""

from __future__ import annotations

from typing import Any

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPResponseStartEvent

from app.answers import error_answer
from app.asgi import app as tap_app
from app.errors import MalformedRequest


def ambiguity(headers: list[tuple[bytes, bytes]], http_version: str) -> str | None:
    """Why a request with these (lower-case) header names is ambiguous, or ``None``."""
    lengths = hosts = 0
    chunked = False
    for name, _value in headers:
        if name == b"content-length":
            lengths += 1
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"host":
            hosts += 1
    if chunked and lengths:
        return "The request has both Content-Length and Transfer-Encoding."
    if lengths > 1:
        return "The request has more than one Content-Length."
    if hosts > 1 or (hosts == 0 and http_version == "1.1"):
        return "An HTTP/1.1 request needs exactly one Host header."
    return None


async def app(scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """TAP's app, behind the check of :func:`ambiguity` for HTTP requests."""
    if scope["type"] == "http":
        reason = ambiguity(scope["headers"], scope["http_version"])
        if reason is not None:
            answer = error_answer(MalformedRequest(reason))
            assert isinstance(answer.body, bytes)
            headers = [(name.lower().encode(), value.encode()) for name, value in answer.headers]
            headers += [(b"connection", b"close"), (b"content-length", b"%d" % len(answer.body))]
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": answer.status,
                "headers": headers,
            }
            await send(start)
            await send({"type": "http.response.body", "body": answer.body, "more_body": False})
            return
    await tap_app(scope, receive, send)
