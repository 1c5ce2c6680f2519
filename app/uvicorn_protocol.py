"""Uvicorn's httptools protocol with the connection limits TAP keeps under every server.

``TAP_SERVER=uvicorn`` serves TAP with this protocol. Uvicorn by itself arms
its keep-alive timer only after a response and drops it on the first byte that
arrives, never times out a read, and lets a request head grow without bound;
Hypercorn, as ``app/server.py`` sets it up, does none of that. Per connection
this protocol adds:

1. A head deadline. From accept, and again after each response, a complete
   request head must arrive within ``timeout_keep_alive`` seconds; bytes that
   trickle in do not move it, so a client dribbling a head (slowloris) is cut
   off, and so is an idle keep-alive connection.
2. A read deadline. A client that sends nothing for ``read_timeout_secs`` is
   closed, whatever the connection is doing, like Hypercorn's ``read_timeout``.
   This also frees a response stuck on a client that stopped reading.
3. A head size limit. A head over ``max_head_bytes`` is answered 431 and the
   connection closed; one that never ends is cut off once it has sent that
   much beyond the read it started in, so its memory stays bounded.
4. TAP's JSON error body (``bad_request``) for a request the parser refuses,
   instead of Uvicorn's plain text, and an upgrade request (TAP serves no
   WebSocket) is answered as plain HTTP/1.1 and its connection then closed.

Both deadlines share one timer per connection that is moved lazily: a read
only stores the time, and the timer re-arms itself when it fires early.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any, Final

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.errors import ApiError, HeadersTooLarge, MalformedRequest

logger = logging.getLogger(__name__)

_BODY_HEADERS: Final = (b"content-length", b"transfer-encoding")


class GuardedConfig(Config):
    """Uvicorn's settings plus the limits :class:`GuardedProtocol` enforces.

    A subclass rather than module state, because Uvicorn pickles its config
    into each worker process it spawns.
    """

    def __init__(self, app: str, *, read_timeout_secs: float, max_head_bytes: int, **kwargs: Any):
        super().__init__(app, **kwargs)
        self.read_timeout_secs = read_timeout_secs
        self.max_head_bytes = max_head_bytes


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that was refused."""


class GuardedProtocol(HttpToolsProtocol):
    """One HTTP/1.1 connection, with a head deadline, a read deadline and a head size limit."""

    def __init__(
        self,
        config: GuardedConfig,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._read_timeout = config.read_timeout_secs
        self._max_head_bytes = config.max_head_bytes
        self._last_read = 0.0
        self._head_deadline: float | None = None
        """When the request head being waited for must be complete; ``None`` while one is served."""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._awaiting_head = True
        self._head_reads = 0
        self._head_bytes = 0
        self._done = False
        """No further request is read on this connection (one was refused, or upgraded)."""

    # Deadlines --------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._last_read = self.loop.time()
        self._expect_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        # A request head already read and queued (pipelining) is being served next.
        waiting = not self.pipeline
        super().on_response_complete()
        if waiting and not self.transport.is_closing():
            self._expect_head()

    def _expect_head(self) -> None:
        self._head_deadline = self.loop.time() + self.timeout_keep_alive
        self._schedule(self._head_deadline)

    def _due(self) -> float:
        due = self._last_read + self._read_timeout
        if self._head_deadline is not None and self._head_deadline < due:
            return self._head_deadline
        return due

    def _schedule(self, at: float) -> None:
        if self._timer is not None:
            if self._timer_at <= at:
                return  # it fires first and re-arms for the rest
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        due = self._due()
        if self.loop.time() >= due:
            # NOTE: closing under a response in progress is deliberate: the client
            # has sent nothing for the whole read timeout (Hypercorn does the same).
            # Output it has not read is dropped, or close() would wait on it forever.
            if self.transport.get_write_buffer_size():
                self.transport.abort()
            else:
                self.transport.close()
        else:
            self._schedule(due)

    # Parsing ----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._last_read = self.loop.time()
        if self._done:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The head is served as plain HTTP/1.1 (on_headers_complete refused any
            # body); what follows it cannot be parsed, so the connection ends there.
            self._done = True
            self.cycle.keep_alive = False
            return
        except httptools.HttpParserError:
            if not self._done:
                logger.info("refused a request that is not valid HTTP/1.1")
                self._refuse(MalformedRequest("The request is not valid HTTP/1.1."))
            return
        if self._awaiting_head:
            # The read a head starts in may end a previous message, so it is not
            # counted; every later read until the head completes is head.
            if self._head_reads:
                self._head_bytes += len(data)
                if self._head_bytes > self._max_head_bytes:
                    self._refuse(HeadersTooLarge("The request head is too large."))
            self._head_reads += 1

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_deadline = None
        self._head_reads = self._head_bytes = 0
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        if size > self._max_head_bytes:
            self._refuse(HeadersTooLarge("The request head is too large."))
            raise _Refused
        if self.parser.should_upgrade() and any(
            name in _BODY_HEADERS and value != b"0" for name, value in self.headers
        ):
            # NOTE: the parser hands no body of an upgrade request on; serving it
            # without one would forward something other than what was sent.
            self._refuse(MalformedRequest("An upgrade request cannot carry a body here."))
            raise _Refused
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._awaiting_head = True
        super().on_message_complete()

    def _refuse(self, error: ApiError) -> None:
        """Answer ``error`` and close, never in the middle of another response.

        A request whose body turns out broken after its head started it (an
        unknown transfer coding, a bad chunk) is withdrawn from the app, which
        sees a disconnect, as under Hypercorn. A whole earlier request that is
        still being answered is answered first, then the connection closes.
        """
        self._done = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if not cycle.more_body:
                cycle.keep_alive = False
                return
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started or self.pipeline:
                self.transport.close()
                return
        body = json.dumps(error.to_json()).encode()
        head = (
            f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        ).encode("ascii")
        self.transport.write(head + body)
        self.transport.close()
