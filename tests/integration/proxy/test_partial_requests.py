"""Slowloris: a client that sends half a request is cut off, against a real tap-proxy.

The proxy runs with short read and keep-alive limits so the tests finish fast;
each one dribbles bytes often enough that a per-read timeout alone would never
fire, then waits (against a generous deadline) for the server to give up.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from tests.support.tap import Tap, start_tap
from tests.support.upstream import Received, Upstream

LIMIT_SECS = "2"
DEADLINE_SECS = 30.0
"""Far above the limits: reaching it means the server never cut the client off."""
DRIP_SECS = 0.3


@pytest.fixture
def strict(tmp_path: Path, database_url: str) -> Iterator[Tap]:
    running = start_tap(
        tmp_path,
        database_url,
        TAP_REQUEST_READ_TIMEOUT_SECS=LIMIT_SECS,
        TAP_KEEP_ALIVE_TIMEOUT_SECS=LIMIT_SECS,
    )
    yield running
    running.proxy.stop()


def _connect(tap: Tap) -> socket.socket:
    parts = urlsplit(tap.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    sock.settimeout(DRIP_SECS)
    return sock


def _dribble_until_closed(sock: socket.socket, drip: bytes) -> bytes:
    """Send ``drip`` every DRIP_SECS until the server closes; return what it answered.

    Raises AssertionError if the connection is still open at the deadline.
    """
    answered = b""
    deadline = time.monotonic() + DEADLINE_SECS
    while time.monotonic() < deadline:
        try:
            sock.sendall(drip)
        except OSError:
            return answered  # reset or broken pipe: the server is gone
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return answered
        if not chunk:
            return answered
        answered += chunk
    raise AssertionError(f"the connection was still open after {DEADLINE_SECS:g} s")


def test_a_request_head_sent_a_line_at_a_time_is_cut_off(strict: Tap) -> None:
    with _connect(strict) as sock:
        sock.sendall(b"POST /forward HTTP/1.1\r\nHost: tap\r\n")
        answered = _dribble_until_closed(sock, b"X-Slow: a\r\n")
    # Nothing was served: the request never became a request.
    assert b"HTTP/1.1 200" not in answered


def test_a_request_body_sent_a_byte_at_a_time_is_cut_off(strict: Tap) -> None:
    with _connect(strict) as sock:
        sock.sendall(
            b"POST /forward HTTP/1.1\r\nHost: tap\r\nContent-Length: 100000\r\n"
            b"X-TAP-Key: nobody\r\nX-TAP-Target: https://example.com/\r\n\r\n"
        )
        answered = _dribble_until_closed(sock, b"x")
    if answered:
        assert answered.startswith(b"HTTP/1.1 408"), answered[:200]
        assert b'"error":"request_timeout"' in answered.replace(b" ", b"")


def test_a_silent_half_request_is_cut_off(strict: Tap) -> None:
    with _connect(strict) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: ta")
        sock.settimeout(DEADLINE_SECS)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(4096) == b""


def test_complete_requests_still_work(strict: Tap) -> None:
    assert strict.get("/health").status_code == 200


def test_a_client_waiting_for_a_slow_upstream_is_not_cut_off(strict: Tap) -> None:
    # The client is rightly silent while TAP waits for the upstream: the read limit
    # must not close the connection under the response.
    async def slow(received: Received) -> web.Response:
        await asyncio.sleep(float(LIMIT_SECS) * 2)
        return web.json_response({"ok": True})

    upstream = Upstream(handler=slow).start()
    try:
        strict.add_credential("demo", "sk-live-slow-123456", "--allowed-host", "127.0.0.1")
        key = strict.agent("bot", "--credentials", "demo")
        response = strict.forward(key, "demo", upstream.url + "/slow")
        assert response.status_code == 200, response.text
        assert response.json() == {"ok": True}
    finally:
        upstream.stop()
