"""Tests for app.proxy.stream: which answers stream, and that a relay always ends exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from app.proxy import stream
from app.proxy.sanitize import Sanitizer
from app.proxy.stream_scrub import StreamScrubber

SECRET = "sk_live_0123456789abcdef"


class _Headers:
    """Case-insensitive, as aiohttp's response headers are."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = {k.replace("_", "-").lower(): v for k, v in values.items()}

    def get(self, name: str, default: str = "") -> str:
        return self._values.get(name.lower(), default)

    def getall(self, name: str, default: list[str]) -> list[str]:
        return [self._values[name.lower()]] if name.lower() in self._values else default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values


def _response(**values: str) -> Any:
    return SimpleNamespace(headers=_Headers(values))


@pytest.mark.parametrize(
    ("headers", "streams"),
    [
        # server-sent events stream however they are framed
        ({"Content_Type": "text/event-stream"}, True),
        ({"Content_Type": "text/event-stream; charset=utf-8", "Content_Length": "10"}, True),
        # chunked text streams, but not when the length is known
        ({"Content_Type": "application/x-ndjson"}, True),
        ({"Content_Type": "application/x-ndjson", "Content_Length": "10"}, False),
        # an ordinary JSON answer is read whole, chunked or not
        ({"Content_Type": "application/json"}, False),
        # compressed: read whole and decoded, as before
        ({"Content_Type": "text/event-stream", "Content_Encoding": "gzip"}, False),
        ({"Content_Type": "text/event-stream", "Content_Encoding": "identity"}, True),
    ],
)
def test_which_answers_stream(headers: dict[str, str], streams: bool) -> None:
    assert stream.wants_stream(_response(**headers)) is streams


class _Content:
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = list(chunks)

    async def readany(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""


class _Response:
    def __init__(self, chunks: list[bytes]) -> None:
        self.content = _Content(chunks)
        self.released = 0

    def release(self) -> None:
        self.released += 1


def _relay(chunks: list[bytes]) -> tuple[stream.Relay, _Response, list[stream.StreamResult]]:
    response = _Response(chunks)
    upstream = stream.UpstreamStream(response, b"", idle_timeout_secs=5)  # type: ignore[arg-type]
    results: list[stream.StreamResult] = []

    async def done(result: stream.StreamResult) -> None:
        results.append(result)

    scrubber = StreamScrubber(Sanitizer.for_secrets([("k", SECRET)]))
    return stream.Relay(upstream, scrubber, done), response, results


async def _read(relay: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in relay])


def test_a_relay_scrubs_and_reports_once() -> None:
    async def scenario() -> tuple[bytes, Any, Any]:
        relay, response, results = _relay([b"data: " + SECRET[:5].encode(), SECRET[5:].encode()])
        body = await _read(relay)
        await relay.aclose()
        return body, response, results

    body, response, results = asyncio.run(scenario())
    assert body == b"data: [REDACTED:k]"
    assert response.released >= 1
    [result] = results
    assert result.cut is None and result.sanitized and result.size == len(body)


def test_a_nul_byte_cuts_the_stream() -> None:
    async def scenario() -> Any:
        relay, _, results = _relay([b"data: ok\n\n", "x".encode("utf-16-le")])
        with pytest.raises(stream.StreamBroken):
            await _read(relay)
        return results

    [result] = asyncio.run(scenario())
    assert result.cut is not None


def test_a_body_never_read_still_releases_and_reports() -> None:
    async def request() -> tuple[_Response, list[stream.StreamResult]]:
        relay, response, results = _relay([b"data: x\n\n"])
        del relay  # the agent went away before the answer started
        return response, results

    async def scenario() -> tuple[_Response, list[stream.StreamResult]]:
        response, results = await asyncio.create_task(request())
        for _ in range(10):
            if results:
                break
            await asyncio.sleep(0)
        return response, results

    response, results = asyncio.run(scenario())
    assert response.released == 1
    [result] = results
    assert result.cut == "the answer was never sent"
