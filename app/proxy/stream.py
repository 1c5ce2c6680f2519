"""Streamed upstream responses: passed on as they arrive, scrubbed on the way.

Server-sent events (``text/event-stream``) and chunked text streams
(``application/x-ndjson`` and the like, sent without a ``Content-Length``)
are not read whole: the forward stage hands the open response to
:func:`open_stream`, and the answer's body is a :class:`Relay`, which reads
whatever the upstream has sent, runs it through a
:class:`~app.proxy.stream_scrub.StreamScrubber` and sends what is final.

The same fail-closed rules as for a buffered body apply. Only identity-coded
UTF-8 text streams: a compressed stream, another charset, or a body that
starts like a compressed file, an archive or UTF-16/32 text is read whole
(up to the 10 MiB cap) and scanned as before. A NUL byte in a streamed body
(UTF-16/32 or binary after all, where redaction in place is not safe) cuts the
stream there.

Limits: a stream may run for :data:`MAX_STREAM_SECS` and carry
:data:`MAX_STREAM_BYTES`; the upstream may stay silent for the forward
timeout (``TAP_FORWARD_TIMEOUT_SECS``) at most between two chunks. A stream
that passes a limit, breaks upstream or cannot be scrubbed is *cut*: the
connection to the agent is dropped without the final chunk, so the agent sees
an incomplete answer and never mistakes it for a whole one. The audit record
is written when the stream ends, with the outcome and the time to the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import aiohttp

from app.proxy.body_views import STREAM_SNIFF_BYTES, streams_in_place
from app.proxy.stream_scrub import StreamCut, StreamScrubber

logger = logging.getLogger(__name__)

MAX_STREAM_SECS: Final = 30 * 60
"""A streamed answer longer than this is cut (an LLM answer takes seconds to minutes)."""

MAX_STREAM_BYTES: Final = 1024 * 1024 * 1024
"""A streamed answer larger than this is cut."""

STREAM_TYPES: Final = frozenset({"text/event-stream"})
"""Streamed whatever their framing."""

CHUNKED_TEXT_TYPES: Final = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/json-seq",
        "application/stream+json",
        "text/plain",
    }
)
"""Streamed when sent without a ``Content-Length`` (chunked or until close)."""


class StreamBroken(Exception):
    """The stream was cut; the message names why (no body bytes)."""


@dataclass(slots=True)
class UpstreamStream:
    """An upstream response whose body is still arriving (forward stage)."""

    response: aiohttp.ClientResponse
    first: bytes
    """What was read to decide that the body streams."""
    idle_timeout_secs: float

    def release(self) -> None:
        """Give the connection back (closed, when the body was not read to its end)."""
        self.response.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive.

        Raises:
            StreamBroken: the upstream broke off, went silent or passed a limit.
        """
        deadline = time.monotonic() + MAX_STREAM_SECS
        size = len(self.first)
        if self.first:
            yield self.first
        while True:
            wait = min(self.idle_timeout_secs, deadline - time.monotonic())
            try:
                async with asyncio.timeout(max(wait, 0)):
                    chunk = await self.response.content.readany()
            except TimeoutError as exc:
                raise StreamBroken("upstream silent or stream too long") from exc
            except aiohttp.ClientError as exc:
                raise StreamBroken(f"upstream stream failed: {type(exc).__name__}") from exc
            if not chunk:
                return
            size += len(chunk)
            if size > MAX_STREAM_BYTES:
                raise StreamBroken("stream larger than the limit")
            yield chunk


def wants_stream(response: aiohttp.ClientResponse) -> bool:
    """Whether ``response`` (its headers are in) is passed on as it arrives."""
    headers = response.headers
    codings = {
        c.strip().lower() for c in ",".join(headers.getall("Content-Encoding", [])).split(",")
    }
    if codings - {"", "identity"}:
        return False
    mime = headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if mime in STREAM_TYPES:
        return True
    return mime in CHUNKED_TEXT_TYPES and "Content-Length" not in headers


async def open_stream(
    response: aiohttp.ClientResponse, idle_timeout_secs: float
) -> tuple[UpstreamStream | None, bytes]:
    """Read the body's first bytes and decide: ``(stream, b"")`` or ``(None, first bytes)``.

    ``None`` means the body must be read whole after all (it starts like
    something other than UTF-8 text); the bytes read so far come back to be
    kept.

    Raises:
        TimeoutError: nothing came within ``idle_timeout_secs``.
        aiohttp.ClientError: the upstream broke off.
    """
    first = b""
    async with asyncio.timeout(idle_timeout_secs):
        while len(first) < STREAM_SNIFF_BYTES:
            chunk = await response.content.readany()
            if not chunk:
                break
            first += chunk
    if not streams_in_place(response.headers.get("Content-Type"), first):
        return None, first
    return UpstreamStream(response, first, idle_timeout_secs), b""


@dataclass(slots=True)
class StreamResult:
    """What was sent of a streamed body (for the audit record and the log)."""

    size: int = 0
    sha256: str = ""
    sanitized: bool = False
    cut: str | None = None
    """Why the stream was cut; ``None`` when it ended with the upstream's."""


class Relay:
    """The body of a streamed answer: the scrubbed chunks, then ``done``, exactly once.

    ``done`` runs when the body ends, however it ends: at the stream's end, when
    it is cut, when the agent goes away mid-stream (the server closes the body),
    and also when the body was never read at all (the agent went away before the
    answer started): then the request's task ending releases the upstream and
    runs ``done`` with the stream marked cut. Create it inside the request's task.
    """

    def __init__(
        self,
        upstream: UpstreamStream,
        scrubber: StreamScrubber,
        done: Callable[[StreamResult], Awaitable[None]],
    ) -> None:
        self._upstream = upstream
        self._done = done
        self._finished = False
        self._body = _relay(upstream, scrubber, self._finish)
        task = asyncio.current_task()
        if task is not None:
            task.add_done_callback(self._request_ended)

    def __aiter__(self) -> Relay:
        return self

    async def __anext__(self) -> bytes:
        """The next scrubbed chunk.

        Raises:
            StreamBroken: the stream was cut (raised so the server drops the connection).
        """
        return await self._body.__anext__()

    async def aclose(self) -> None:
        """End the body (the server calls this when it stops sending)."""
        await self._body.aclose()
        await self._abandon()

    async def _finish(self, result: StreamResult) -> None:
        self._finished = True
        await self._done(result)

    async def _abandon(self) -> None:
        if self._finished:
            return
        self._upstream.release()
        await self._finish(StreamResult(cut="the answer was never sent"))

    def _request_ended(self, _task: asyncio.Task[object]) -> None:
        if not self._finished:
            cleanup = asyncio.get_running_loop().create_task(self._abandon())
            _CLEANUPS.add(cleanup)
            cleanup.add_done_callback(_CLEANUPS.discard)


# Strong references to cleanups in flight (the loop keeps only weak ones).
_CLEANUPS: set[asyncio.Task[None]] = set()


async def _relay(
    upstream: UpstreamStream,
    scrubber: StreamScrubber,
    done: Callable[[StreamResult], Awaitable[None]],
) -> AsyncGenerator[bytes, None]:
    result = StreamResult()
    digest = hashlib.sha256()
    try:
        async for raw in upstream.chunks():
            if b"\0" in raw:
                raise StreamBroken("a NUL byte in a text stream")
            out = scrubber.feed(raw)
            if out:
                digest.update(out)
                result.size += len(out)
                yield out
        out = scrubber.finish()
        if out:
            digest.update(out)
            result.size += len(out)
            yield out
    except StreamCut as exc:
        result.cut = str(exc)
        raise StreamBroken(result.cut) from exc
    except StreamBroken as exc:
        result.cut = str(exc)
        raise
    except BaseException:
        # The agent went away (the server closes the body), or a bug: the stream is cut.
        result.cut = "stream ended early"
        raise
    finally:
        upstream.release()
        result.sha256 = digest.hexdigest()
        result.sanitized = scrubber.sanitized
        await done(result)
