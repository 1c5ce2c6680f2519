"""What a hostile HTTP/1.1 client meets on the raw socket, under whichever server the run uses.

The same limits must hold under Uvicorn (the default) and ``TAP_SERVER=hypercorn``
(``make test`` runs this file under both): oversized and endless request
heads, idle connections, and the request shapes used for smuggling. Each test
waits for the server against a deadline far above the limit under test.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.postgres import create_database
from tests.support.proxy import ProxyProcess, base_env, start_proxy

LIMIT_SECS = "2"
DEADLINE_SECS = 30.0
"""Far above LIMIT_SECS, and below the default keep-alive (75 s) the size tests run with."""


def _proxy(tmp: Path, cluster: Any, **env: str) -> Iterator[ProxyProcess]:
    proxy = start_proxy(tmp, base_env(tmp, create_database(cluster), **env))
    yield proxy
    assert proxy.stop() == 0, proxy.log()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, pg_cluster: Any) -> Iterator[ProxyProcess]:
    """Short keep-alive and read limits, so the deadline tests finish fast."""
    yield from _proxy(
        tmp_path_factory.mktemp("strict"),
        pg_cluster,
        TAP_KEEP_ALIVE_TIMEOUT_SECS=LIMIT_SECS,
        TAP_REQUEST_READ_TIMEOUT_SECS=LIMIT_SECS,
    )


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory, pg_cluster: Any) -> Iterator[ProxyProcess]:
    """Default limits: a cut within DEADLINE_SECS is not the keep-alive timer's."""
    yield from _proxy(tmp_path_factory.mktemp("default"), pg_cluster)


def _connect(proxy: ProxyProcess) -> socket.socket:
    parts = urlsplit(proxy.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=DEADLINE_SECS)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; AssertionError if it is open at the deadline."""
    answered = b""
    deadline = time.monotonic() + DEADLINE_SECS
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return answered
        if not chunk:
            return answered
        answered += chunk
    raise AssertionError(
        f"the connection was still open after {DEADLINE_SECS:g} s: {answered[:200]!r}"
    )


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) of a connection that stays open."""
    answered = b""
    while b"\r\n\r\n" not in answered:
        answered += sock.recv(65536)
    head, _, body = answered.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: (\d+)", head)[1])  # type: ignore[index]
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _statuses(answered: bytes) -> list[int]:
    """The status of every response in ``answered``."""
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", answered)]


def _error_code(answered: bytes) -> str | None:
    """The JSON ``error`` of a single response, or ``None`` when its body is empty."""
    body = answered.partition(b"\r\n\r\n")[2]
    return json.loads(body)["error"] if body else None


# Deadlines ---------------------------------------------------------------------


def test_a_connection_that_never_sends_is_closed(strict: ProxyProcess) -> None:
    with _connect(strict) as sock:
        assert _read_until_closed(sock) == b""


def test_an_idle_keep_alive_connection_is_closed(strict: ProxyProcess) -> None:
    with _connect(strict) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: tap\r\n\r\n")
        answered = _read_until_closed(sock)
    assert _statuses(answered) == [200]


def test_a_keep_alive_connection_serves_the_next_request(strict: ProxyProcess) -> None:
    with _connect(strict) as sock:
        for _ in range(2):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: tap\r\n\r\n")
            assert _statuses(_read_response(sock)) == [200]


def test_pipelined_requests_are_answered_in_order(strict: ProxyProcess) -> None:
    # A head read while an earlier request is still being served is not on a deadline.
    with _connect(strict) as sock:
        sock.sendall(
            b"GET /health HTTP/1.1\r\nHost: tap\r\n\r\n"
            b"GET /nowhere HTTP/1.1\r\nHost: tap\r\n\r\n"
            b"GET /health HTTP/1.1\r\nHost: tap\r\nConnection: close\r\n\r\n"
        )
        assert _statuses(_read_until_closed(sock)) == [200, 404, 200]


def test_a_head_dribbled_after_a_response_is_cut_off(strict: ProxyProcess) -> None:
    # The deadline runs again after each response; bytes trickling in do not move it.
    with _connect(strict) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: tap\r\n\r\n")
        assert _statuses(_read_response(sock)) == [200]
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        deadline = time.monotonic() + DEADLINE_SECS
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"X-Slow: a\r\n")
                sock.settimeout(0.3)
                if sock.recv(4096) == b"":
                    return
            except TimeoutError:
                continue
            except OSError:
                return
    raise AssertionError(f"the connection was still open after {DEADLINE_SECS:g} s")


# Head size ----------------------------------------------------------------------


def test_a_head_over_the_limit_is_refused(default: ProxyProcess) -> None:
    # Larger than one read of either server, so it is seen incomplete as well as whole.
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(300))
    with _connect(default) as sock:
        with contextlib.suppress(OSError):  # closed while we were still sending: refused too
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: tap\r\n" + padding + b"\r\n")
        answered = _read_until_closed(sock)
    assert _statuses(answered) in ([], [431]), answered[:200]


def test_a_head_that_never_ends_is_cut_off_long_before_the_keep_alive_timeout(
    default: ProxyProcess,
) -> None:
    line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
    sent = 0
    with _connect(default) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: tap\r\n")
        try:
            while sent < 64 * 1024 * 1024:
                sock.sendall(line)
                sent += len(line)
        except OSError:
            pass
        else:
            raise AssertionError("64 MiB of request head were accepted")
        answered = _read_until_closed(sock)
    assert _statuses(answered) in ([], [431]), answered[:200]


def test_a_head_under_the_limit_is_served(default: ProxyProcess) -> None:
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(8))
    with _connect(default) as sock:
        sock.sendall(
            b"GET /health HTTP/1.1\r\nHost: tap\r\nConnection: close\r\n" + padding + b"\r\n"
        )
        assert _statuses(_read_until_closed(sock)) == [200]


# Smuggling ----------------------------------------------------------------------

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: tap\r\n\r\n"
"""Sent after each shape: a server that reads the body boundary wrongly answers it as a second request."""

# (case, request head and body; SMUGGLED follows)
AMBIGUOUS: list[tuple[str, bytes]] = [
    # Body length given twice, two ways.
    (
        "content-length then transfer-encoding",
        b"POST /health HTTP/1.1\r\nHost: tap\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "transfer-encoding then content-length",
        b"POST /health HTTP/1.1\r\nHost: tap\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 40\r\n\r\n0\r\n\r\n",
    ),
    (
        "transfer-encoding folded onto a second line",
        b"POST /health HTTP/1.1\r\nHost: tap\r\nContent-Length: 5\r\nTransfer-Encoding:\r\n"
        b" chunked\r\n\r\n0\r\n\r\n",
    ),
    # Two lengths that disagree.
    (
        "conflicting content-length",
        b"POST /health HTTP/1.1\r\nHost: tap\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n",
    ),
    ("content-length list", b"POST /health HTTP/1.1\r\nHost: tap\r\nContent-Length: 0, 40\r\n\r\n"),
    # A transfer coding other than chunked, or chunked twice.
    (
        "unknown transfer coding",
        b"POST /health HTTP/1.1\r\nHost: tap\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "whitespace before the colon",
        b"POST /health HTTP/1.1\r\nHost: tap\r\nContent-Length : 40\r\n\r\n",
    ),
    # Which host the request is for.
    ("two hosts", b"GET /health HTTP/1.1\r\nHost: tap\r\nHost: evil.example\r\n\r\n"),
    ("no host", b"GET /health HTTP/1.1\r\n\r\n"),
]


@pytest.mark.parametrize(("case", "request_bytes"), AMBIGUOUS, ids=[c for c, _ in AMBIGUOUS])
def test_ambiguous_requests_are_refused_and_the_connection_closed(
    default: ProxyProcess, case: str, request_bytes: bytes
) -> None:
    with _connect(default) as sock:
        sock.sendall(request_bytes + SMUGGLED)
        answered = _read_until_closed(sock)
    statuses = _statuses(answered)
    # Refused, and nothing after it was read as a request.
    assert len(statuses) <= 1 and all(400 <= s < 600 for s in statuses), answered[:300]
    assert b"/smuggled" not in answered
    if statuses and answered.partition(b"\r\n\r\n")[2]:
        assert _error_code(answered) == "bad_request", answered[:300]
