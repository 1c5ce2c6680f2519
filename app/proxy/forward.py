"""Stage 9: send the request upstream with the shared aiohttp session.

Redirects are never followed (a ``Location`` could bounce the secret to another
host); the 3xx goes back to the agent. The response body is read up to a cap
so it can be scanned; beyond the cap it is withheld rather than passed on
unscanned. A streamed text response (server-sent events, a chunked text
stream) is not read here: it is left open for :mod:`app.proxy.stream`. TAP offers only the codings it can undo and undoes the whole
``Content-Encoding`` stack itself (:mod:`app.proxy.decode`); a body it cannot
decode is kept as received and marked unscannable for the sanitizer. The connector's resolver refuses internal addresses at connect
time, so the address connected to is always one that was checked.

An OAuth 2 credential's token that the upstream answers 401 to is replaced
(:func:`app.proxy.inject.reauthorize`) and the request sent once more; never
twice, whatever the second answer is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

import aiohttp
from yarl import URL

from app.errors import TargetNotAllowed, UpstreamDnsError, UpstreamError
from app.netguard import BlockedAddress
from app.proxy import decode, inject, stream
from app.proxy.context import ForwardContext
from app.runtime import UPSTREAM_CONNECT_TIMEOUT_SECS

MAX_RESPONSE_BYTES: Final = 10 * 1024 * 1024
# The caller's asyncio timeout bounds the exchange (a stream's body has its own limits).
_BOUNDED_BY_CALLER: Final = aiohttp.ClientTimeout(total=None, connect=UPSTREAM_CONNECT_TIMEOUT_SECS)
_NO_AUTO_HEADERS: Final = frozenset({"User-Agent", "Content-Type"})
# Response headers that describe the upstream connection, not the content.
_DROP_RESPONSE_HEADERS: Final = frozenset(
    {
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
    }
)


async def _read_capped(response: aiohttp.ClientResponse, first: bytes) -> tuple[bytes, bool]:
    """The whole body, or ``(b"", True)`` once it grows past the cap.

    The chunks are taken as the client's parser produced them and joined once:
    reading fixed-size pieces (``iter_chunked``) makes the client join its
    small chunks into each piece first, a second copy of the whole body.
    """
    chunks: list[bytes] = [first] if first else []
    size = len(first)
    async for chunk, _ in response.content.iter_chunks():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False


async def _read_body(
    ctx: ForwardContext, response: aiohttp.ClientResponse, deadline: asyncio.Timeout
) -> tuple[bytes, bool]:
    """The capped body, or nothing when it streams (``ctx.upstream_stream`` set)."""
    first = b""
    if ctx.may_stream and stream.wants_stream(response):
        timeout = ctx.rt.config.forward_timeout_secs
        ctx.upstream_stream, first = await stream.open_stream(response, timeout)
        if ctx.upstream_stream is not None:
            deadline.reschedule(None)
            return b"", False
    return await _read_capped(response, first)


async def run(ctx: ForwardContext) -> ForwardContext:
    """Pipeline stage: send, and for an OAuth 2 token the upstream refused, send once more."""
    await _send(ctx)
    if ctx.upstream_status == 401 and await inject.reauthorize(ctx):
        if ctx.upstream_stream is not None:
            ctx.upstream_stream.release()
            ctx.upstream_stream = None
        await _send(ctx)
    return ctx


async def _send(ctx: ForwardContext) -> None:
    session = ctx.rt.http
    assert session is not None
    started = time.perf_counter()
    try:
        # NOTE: the forward timeout bounds the whole exchange, except the body
        # of a stream, which the stream's own limits bound (app.proxy.stream).
        async with asyncio.timeout(ctx.rt.config.forward_timeout_secs) as deadline:
            response = await session.request(
                ctx.method,
                # Already normalised by the target stage; aiohttp must not re-encode it.
                URL(ctx.target_url, encoded=True),
                headers=[*ctx.upstream_headers, ("Accept-Encoding", decode.ACCEPT_ENCODING)],
                data=ctx.body or None,
                allow_redirects=False,
                auto_decompress=False,
                # NOTE: only the agent's own headers and the credential go upstream;
                # the client library does not announce itself or guess a body type.
                skip_auto_headers=_NO_AUTO_HEADERS,
                timeout=_BOUNDED_BY_CALLER,
            )
            try:
                raw, too_large = await _read_body(ctx, response, deadline)
            finally:
                if ctx.upstream_stream is None:
                    response.release()
            encodings = response.headers.getall("Content-Encoding", [])
            ctx.upstream_status = response.status
            ctx.upstream_headers_out = [
                (k, v)
                for k, v in response.headers.items()
                if k.lower() not in _DROP_RESPONSE_HEADERS
            ]
    except aiohttp.ClientConnectorError as exc:
        # NOTE: the guard's refusal comes first: aiohttp reports an error raised
        # by the resolver as a DNS error, and a refusal must never read as one.
        if isinstance(exc.os_error, BlockedAddress):
            raise TargetNotAllowed(
                str(exc.os_error), fix="X-TAP-Target must be a public host."
            ) from exc
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            raise UpstreamDnsError(
                f"X-TAP-Target host '{ctx.target_host}' could not be resolved",
                host=ctx.target_host,
            ) from exc
        raise UpstreamError(
            f"Could not connect to the upstream: {exc.os_error.strerror or 'connection failed'}.",
            target=ctx.raw_target,
        ) from exc
    except TimeoutError as exc:
        raise UpstreamError(
            f"The upstream did not answer within {ctx.rt.config.forward_timeout_secs:g} s.",
            target=ctx.raw_target,
        ) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(
            f"Upstream request failed: {type(exc).__name__}.", target=ctx.raw_target
        ) from exc
    finally:
        ctx.upstream_latency_ms = int((time.perf_counter() - started) * 1000)
    body, inflated_too_large, undecodable = decode.decode_response(
        raw, encodings, limit=MAX_RESPONSE_BYTES
    )
    if undecodable is not None:
        # Left encoded: if it is ever passed on, the agent needs the header to read it.
        ctx.upstream_headers_out.append(("Content-Encoding", ", ".join(encodings)))
    ctx.upstream_body = body
    ctx.upstream_unscannable = undecodable
    ctx.response_too_large = too_large or inflated_too_large
