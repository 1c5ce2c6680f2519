"""The edges of ``POST /forward`` on the wire, against a real tap-proxy.

/forward is served in front of the web framework (app.proxy.asgi_route); these
requests are written byte for byte on a socket so that nothing between the
test and the server normalises them, and each answer is the one the framework
gave before: the same statuses, error codes and headers.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from tests.support.tap import Tap, start_tap
from tests.support.upstream import Received, Upstream

MAX_REQUEST_BYTES = 10 * 1024 * 1024
SOCKET_TIMEOUT_SECS = 30.0
"""Far above any answer's time: reaching it means the server never answered."""


class Answer:
    """One HTTP/1.1 answer read off the socket."""

    def __init__(self, head: bytes, body: bytes) -> None:
        lines = head.decode("latin1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def _connect(tap: Tap) -> socket.socket:
    parts = urlsplit(tap.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=SOCKET_TIMEOUT_SECS)
    return sock


def _read_answer(sock: socket.socket) -> Answer:
    """Read one answer with a Content-Length body (every refusal has one)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if head.startswith(b"HTTP/1.1 100"):
        return Answer(head, b"")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    assert match, head
    length = int(match.group(1))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    return Answer(head, body[:length])


def _ask(tap: Tap, request: bytes) -> Answer:
    with _connect(tap) as sock:
        sock.sendall(request)
        return _read_answer(sock)


def _request(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: tap"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# Every method but POST: 405 method_not_allowed, as the framework's router answered.
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_are_405(tap: Tap, method: str) -> None:
    answer = _ask(tap, _request(method, "/forward", {}))
    assert answer.status == 405
    assert answer.json()["error"] == "method_not_allowed"
    assert answer.headers["content-type"] == "application/json"
    assert re.fullmatch(r"[0-9a-f-]{36}", answer.headers["x-request-id"])
    assert answer.headers["date"].endswith("GMT")


def test_head_is_405_without_a_body(tap: Tap) -> None:
    with _connect(tap) as sock:
        sock.sendall(_request("HEAD", "/forward", {}))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk
            head += chunk
    assert head.startswith(b"HTTP/1.1 405")


# The spellings the framework's router took as /forward, and the ones it did not.
@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("/forward", 401, "missing_tap_key"),
        ("//forward", 401, "missing_tap_key"),
        ("/forward?x=1", 401, "missing_tap_key"),
        ("/%66orward", 401, "missing_tap_key"),  # percent-decoded before routing
        ("/forward/", 404, "not_found"),
        ("/Forward", 404, "not_found"),
        ("/forward%2F", 404, "not_found"),
    ],
)
def test_which_paths_are_forward(tap: Tap, target: str, status: int, code: str) -> None:
    answer = _ask(tap, _request("POST", target, {}))
    assert (answer.status, answer.json()["error"]) == (status, code)


def test_a_declared_oversize_body_is_refused_before_it_is_sent(tap: Tap) -> None:
    # Not a byte of the body is sent: the answer must come anyway.
    head = _request("POST", "/forward", {"Content-Length": str(MAX_REQUEST_BYTES + 1)})
    head = head.replace(b"Content-Length: 0\r\n", b"")
    answer = _ask(tap, head)
    assert answer.status == 413
    assert answer.json()["error"] == "payload_too_large"


def test_a_chunked_oversize_body_is_refused_once_past_the_cap(tap: Tap) -> None:
    chunk = b"x" * (1024 * 1024)
    with _connect(tap) as sock:
        sock.sendall(b"POST /forward HTTP/1.1\r\nHost: tap\r\nTransfer-Encoding: chunked\r\n\r\n")
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        for _ in range(MAX_REQUEST_BYTES // len(chunk) + 1):
            sock.sendall(framed)
        # The body never ends (no last chunk): the refusal comes all the same.
        answer = _read_answer(sock)
    assert answer.status == 413
    assert answer.json()["error"] == "payload_too_large"


def test_expect_100_continue_is_honoured(tap: Tap, demo: str, upstream: Upstream) -> None:
    body = b'{"hello": "world"}'
    head = _request(
        "POST",
        "/forward",
        {
            "X-TAP-Key": demo,
            "X-TAP-Credential": "demo",
            "X-TAP-Target": upstream.url + "/continued",
            "X-TAP-Method": "GET",
            "Expect": "100-continue",
            "Content-Length": str(len(body)),
        },
    ).replace(b"Content-Length: 0\r\n", b"")
    with _connect(tap) as sock:
        sock.sendall(head)
        interim = _read_answer(sock)
        assert interim.status == 100
        sock.sendall(body)
        answer = _read_answer(sock)
    assert answer.status == 200, answer.body
    assert upstream.received[-1].path == "/continued"


def test_a_client_gone_mid_body_leaves_the_server_serving(tap: Tap) -> None:
    with _connect(tap) as sock:
        sock.sendall(b"POST /forward HTTP/1.1\r\nHost: tap\r\nContent-Length: 1000\r\n\r\nxx")
    assert _ask(tap, _request("POST", "/forward", {})).status == 401
    assert "Traceback" not in tap.proxy.log()


@pytest.fixture
def demo(tap: Tap) -> str:
    tap.add_credential("demo", "sk-live-route-123456", "--allowed-host", "127.0.0.1")
    return tap.agent("bot", "--credentials", "demo")


@pytest.fixture
def dated_upstream() -> Iterator[Upstream]:
    """An upstream that names its own Date and X-Request-Id on /dated, and neither elsewhere."""

    def handler(received: Received) -> web.Response:
        if received.path == "/dated":
            return web.Response(
                body=b"dated",
                headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT", "X-Request-Id": "upstream-id"},
            )
        return web.Response(body=b"plain")

    server = Upstream(handler=handler).start()
    yield server
    server.stop()


def test_forwarded_answers_carry_our_request_id_and_keep_the_upstream_date(
    tap: Tap, demo: str, dated_upstream: Upstream
) -> None:
    dated = tap.forward(demo, "demo", dated_upstream.url + "/dated")
    assert dated.status_code == 200 and dated.content == b"dated"
    assert dated.headers["date"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert dated.headers.get_list("x-request-id") != ["upstream-id"]
    assert len(dated.headers.get_list("x-request-id")) == 1
    plain = tap.forward(demo, "demo", dated_upstream.url + "/plain")
    assert plain.status_code == 200 and plain.content == b"plain"
    assert plain.headers["date"].endswith("GMT")
    assert plain.headers["content-length"] == "5"


@pytest.fixture
def logged(tmp_path: Path, database_url: str) -> Iterator[Tap]:
    running = start_tap(tmp_path, database_url, TAP_LOG_LEVEL="info")
    yield running
    running.proxy.stop()


def test_each_request_has_one_access_log_line(logged: Tap) -> None:
    answer = _ask(logged, _request("POST", "/forward?token=sk-live-in-the-query", {}))
    request_id = answer.headers["x-request-id"]
    line = "POST /forward -> 401 in "
    deadline = time.monotonic() + SOCKET_TIMEOUT_SECS
    while time.monotonic() < deadline:
        log = logged.proxy.log()
        lines = [entry for entry in log.splitlines() if request_id in entry]
        if lines:
            break
        time.sleep(0.05)
    assert len(lines) == 1 and line in lines[0], log
    # NOTE: the path only; a query string may carry a secret.
    assert "sk-live-in-the-query" not in log
