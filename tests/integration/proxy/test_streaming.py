"""Streamed responses through a real tap-proxy: passed on as they arrive, and still scrubbed."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from aiohttp import web

from tests.support.tap import Tap
from tests.support.upstream import Received, Upstream

SECRET = "sk-live-Abc123/+xyz=0987654321"
MARKER = b"[REDACTED:demo]"
SSE = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


@pytest.fixture
def demo(tap: Tap) -> str:
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    return tap.agent("bot", "--credentials", "demo")


def _stream_from(
    upstream: Upstream, parts: Callable[[], AsyncIterator[bytes]], headers: dict[str, str]
) -> None:
    def handler(_: Received) -> web.Response:
        response = web.Response(body=parts(), headers=headers)
        response.enable_compression = lambda *a, **k: None  # type: ignore[method-assign]
        return response

    upstream.handler = handler


def _forward_stream(tap: Tap, key: str, target: str) -> httpx.Response:
    headers = {"X-TAP-Key": key, "X-TAP-Credential": "demo", "X-TAP-Target": target}
    request = httpx.Request("POST", tap.url + "/forward", headers=headers)
    return httpx.Client(timeout=30).send(request, stream=True)


def _audit(tap: Tap, at_least: int) -> list[dict[str, Any]]:
    path: Path = tap.tmp / "audit.jsonl"
    deadline = time.monotonic() + 10
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= at_least or time.monotonic() > deadline:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)


def test_events_reach_the_agent_before_the_stream_ends(
    tap: Tap, demo: str, upstream: Upstream
) -> None:
    first_seen = threading.Event()

    async def parts() -> AsyncIterator[bytes]:
        yield b"data: one\n\n"
        # The second event is sent only once the agent has read the first.
        seen = await asyncio.get_running_loop().run_in_executor(None, first_seen.wait, 10)
        yield f"data: two {SECRET}\n\n".encode() if seen else b"data: agent saw nothing\n\n"

    _stream_from(upstream, parts, SSE)
    response = _forward_stream(tap, demo, upstream.url + "/v1/stream")
    try:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        received = b""
        chunks = response.iter_raw()
        while b"data: one\n\n" not in received:
            received += next(chunks)
        first_seen.set()
        received += b"".join(chunks)
    finally:
        first_seen.set()
        response.close()
    assert received == b"data: one\n\ndata: two " + MARKER + b"\n\n"
    [record] = _audit(tap, 1)
    assert record["outcome"] == "forwarded"
    assert record["upstream_status"] == 200
    assert record["response_sanitized"] is True
    assert record["error"] is None


def _forms() -> dict[str, bytes]:
    raw = SECRET.encode()
    return {
        "exact": raw,
        "base64": base64.b64encode(raw),
        "percent": quote(SECRET, safe="").encode(),
        "json-escaped": json.dumps(SECRET)[1:-1].replace("/", "\\/").encode(),
        "every-char-a-reference": "".join(f"&#x{ord(c):x};" for c in SECRET).encode(),
        "hex": raw.hex().encode(),
    }


@pytest.mark.parametrize("form", list(_forms()))
def test_a_secret_split_at_every_boundary_is_scrubbed(
    tap: Tap, demo: str, upstream: Upstream, form: str
) -> None:
    event = b'data: {"echo":"' + _forms()[form] + b'"}\n\n'
    cuts = range(1, len(event))

    async def parts() -> AsyncIterator[bytes]:
        for cut in cuts:
            yield event[:cut]
            # A pause between the halves so TAP reads them apart (coverage, not correctness).
            await asyncio.sleep(0.002)
            yield event[cut:]

    _stream_from(upstream, parts, SSE)
    response = tap.forward(demo, "demo", upstream.url + "/v1/stream")
    assert response.status_code == 200
    assert response.content == (b'data: {"echo":"' + MARKER + b'"}\n\n') * len(cuts)


def test_unusual_streams_follow_the_buffered_rules(tap: Tap, demo: str, upstream: Upstream) -> None:
    leak = f"data: {SECRET}\n\n".encode()

    # A compressed stream is read whole, decoded and scrubbed as before.
    async def compressed() -> AsyncIterator[bytes]:
        yield gzip.compress(leak)

    _stream_from(upstream, compressed, {**SSE, "Content-Encoding": "gzip"})
    response = tap.forward(demo, "demo", upstream.url)
    assert response.status_code == 200
    assert response.content == b"data: " + MARKER + b"\n\n"

    # A stream that starts like a gzip file is scanned as one: withheld.
    async def gzip_file() -> AsyncIterator[bytes]:
        yield gzip.compress(leak)

    _stream_from(upstream, gzip_file, SSE)
    response = tap.forward(demo, "demo", upstream.url)
    assert response.json()["error"] == "response_withheld"

    # A NUL byte mid-stream (UTF-16 after all): the stream is cut, never ended cleanly.
    async def utf16() -> AsyncIterator[bytes]:
        yield b"data: fine\n\n"
        yield f"data: {SECRET}\n\n".encode("utf-16-le")

    _stream_from(upstream, utf16, SSE)
    with pytest.raises(httpx.RemoteProtocolError):
        tap.forward(demo, "demo", upstream.url)
    records = _audit(tap, 3)
    assert SECRET not in tap.proxy.log()
    assert [r["outcome"] for r in records] == ["forwarded", "forwarded", "error"]
    assert records[-1]["error"] == "response_stream_cut"


def test_an_approved_request_stores_the_whole_stream_scrubbed(
    tap: Tap, demo: str, upstream: Upstream
) -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"data: one " + SECRET.encode()[:7]
        yield SECRET.encode()[7:] + b"\n\n"

    _stream_from(upstream, parts, SSE)
    # The default policy asks a human before a POST; the answer is kept for polling.
    parked = tap.forward(demo, "demo", upstream.url, method="POST").json()
    tap.ok("approve", parked["txn_id"])
    deadline = time.monotonic() + 15
    body: dict[str, Any] = {}
    while body.get("status") != "forwarded" and time.monotonic() < deadline:
        body = tap.get(parked["poll_url"], demo).json()
        time.sleep(0.1)
    assert body["status"] == "forwarded", body
    assert body["response"]["body"] == "data: one [REDACTED:demo]\n\n"
