"""The ``POST /forward`` ASGI route, driven in-process through the app's ASGI callable.

What the pipeline does is tested against a real tap-proxy
(tests/integration/proxy/); these tests pin what the route itself decides:
which requests are its own, the refusals it makes before the pipeline runs,
and how it turns an answer into ASGI messages. The pipeline is replaced by a
stand-in only where a test needs an answer the pipeline cannot be made to give.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from quart import Quart

from app.answers import Answer
from app.config import Config
from app.proxy import asgi_route, routes
from app.secret import SecretPairs
from app.web import MAX_REQUEST_BYTES, create_app
from app.webstate import EXTENSION
from tests.support.proxy import TEST_KEY

READ_TIMEOUT_SECS = 1


@pytest.fixture
def app() -> Quart:
    config = Config.from_env(
        {
            "TAP_ENCRYPTION_KEY": TEST_KEY,
            "TAP_DATABASE_URL": "postgresql://unused/unused",
            "TAP_REQUEST_READ_TIMEOUT_SECS": str(READ_TIMEOUT_SECS),
        }
    )
    return create_app(config, "postgresql://unused/unused")


@pytest.fixture
def serving(app: Quart) -> Quart:
    """The app as if start-up had finished (the stand-in pipelines never touch the runtime)."""
    app.extensions[EXTENSION] = object()
    return app


@dataclass
class Exchange:
    """What the app sent for one request."""

    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.messages[0]["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])

    def json(self) -> Any:
        return json.loads(self.body)


def _scope(method: str, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }


async def _call(
    app: Quart,
    method: str,
    path: str,
    incoming: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    *,
    then_disconnect: bool = False,
) -> Exchange:
    """Call the app; ``incoming`` are the messages receive() returns, then it waits.

    With ``then_disconnect``, receive() reports the client gone once the app is
    waiting for more, as a server does when the socket closes.
    """
    queue = list(incoming if incoming is not None else [_last(b"")])
    exchange = Exchange()

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        if then_disconnect:
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        exchange.messages.append(message)

    async with asyncio.timeout(10):
        await app(_scope(method, path, headers), receive, send)  # type: ignore[arg-type]
    return exchange


def _last(body: bytes) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": False}


def _part(body: bytes) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": True}


def _stand_in(monkeypatch: pytest.MonkeyPatch, answer: Answer | Exception) -> list[bytes]:
    """Replace the pipeline with one that answers ``answer``; returns the bodies it was given."""
    bodies: list[bytes] = []

    async def forward(
        rt: object, request_id: uuid.UUID, raw_headers: SecretPairs, body: bytes
    ) -> Answer:
        bodies.append(body)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(routes, "forward", forward)
    return bodies


# Which request targets are /forward: the ones Quart's router matched to it.
@pytest.mark.parametrize(
    ("path", "root_path", "ours"),
    [
        ("/forward", "", True),
        ("//forward", "", True),  # leading slashes are merged
        ("///forward", "", True),
        ("http://tap.example/forward", "", True),  # an absolute-form target
        ("/tap/forward", "/tap", True),
        ("/forward/", "", False),  # a trailing slash is another route (404)
        ("/Forward", "", False),
        ("/forward//", "", False),
        ("/./forward", "", False),
        ("/x/../forward", "", False),
        ("/forwardx", "", False),
        ("/forward", "/tap", False),  # outside the root path
        ("/tap", "/tap", False),
    ],
)
def test_the_route_takes_what_quart_would_route_to_forward(
    path: str, root_path: str, ours: bool
) -> None:
    scope = _scope("POST", path)
    scope["root_path"] = root_path
    assert asgi_route._is_forward(scope) is ours  # type: ignore[arg-type]


# Every method but POST is refused the way Quart refused it: 405, no Allow header.
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"])
async def test_other_methods_are_405(serving: Quart, method: str) -> None:
    answer = await _call(serving, method, "/forward")
    assert answer.status == 405
    assert answer.json()["error"] == "method_not_allowed"
    assert "allow" not in answer.headers
    uuid.UUID(answer.headers["x-request-id"])


async def test_before_start_up_the_answer_is_503(app: Quart) -> None:
    answer = await _call(app, "POST", "/forward")
    assert answer.status == 503
    assert answer.json()["error"] == "service_unavailable"
    assert answer.headers["content-type"] == "application/json"


async def test_a_declared_length_over_the_cap_is_refused_before_any_body(
    serving: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _stand_in(monkeypatch, Answer(200, [], b""))
    # No body message at all: the refusal must not wait for one.
    answer = await _call(
        serving, "POST", "/forward", [], {"Content-Length": str(MAX_REQUEST_BYTES + 1)}
    )
    assert answer.status == 413
    assert answer.json()["error"] == "payload_too_large"
    assert bodies == []


async def test_a_chunked_body_over_the_cap_is_refused_as_it_passes_it(
    serving: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _stand_in(monkeypatch, Answer(200, [], b""))
    half = b"x" * (MAX_REQUEST_BYTES // 2)
    # Three halves arrive, and the body never ends: the answer comes anyway.
    incoming = [_part(half), _part(half), _part(b"x")]
    answer = await _call(serving, "POST", "/forward", incoming, {"Transfer-Encoding": "chunked"})
    assert answer.status == 413
    assert answer.json()["error"] == "payload_too_large"
    assert bodies == []


async def test_a_body_of_exactly_the_cap_is_read(
    serving: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _stand_in(monkeypatch, Answer(200, [], b"ok"))
    half = b"x" * (MAX_REQUEST_BYTES // 2)
    answer = await _call(serving, "POST", "/forward", [_part(half), _last(half)])
    assert answer.status == 200
    assert [len(b) for b in bodies] == [MAX_REQUEST_BYTES]


async def test_a_body_that_does_not_arrive_in_time_is_408(
    serving: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _stand_in(monkeypatch, Answer(200, [], b""))
    answer = await _call(serving, "POST", "/forward", [_part(b"x")], {"Content-Length": "10"})
    assert answer.status == 408
    assert answer.json()["error"] == "request_timeout"
    assert bodies == []


async def test_a_client_gone_mid_body_gets_nothing(
    serving: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _stand_in(monkeypatch, Answer(200, [], b""))
    answer = await _call(serving, "POST", "/forward", [_part(b"x")], then_disconnect=True)
    assert answer.messages == []
    assert bodies == []


async def test_an_unexpected_error_is_a_bare_500_naming_the_request(
    serving: Quart, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _stand_in(monkeypatch, RuntimeError("sk-live-leaked-in-an-exception"))
    with caplog.at_level(logging.ERROR, logger="app.access"):
        answer = await _call(serving, "POST", "/forward")
    request_id = answer.headers["x-request-id"]
    assert answer.status == 500
    assert answer.json() == {
        "error": "internal_error",
        "message": "Internal error.",
        "request_id": request_id,
    }
    assert b"sk-live" not in answer.body
    assert any(request_id in record.getMessage() for record in caplog.records)


async def test_a_whole_body_goes_out_in_one_message_with_our_headers(
    serving: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b"y" * (1 << 20)
    upstream_headers = [
        ("Date", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("X-Request-Id", "the-upstream's-own"),
        ("Content-Length", "3"),
        ("X-Kept", "kept"),
    ]
    _stand_in(monkeypatch, Answer(200, upstream_headers, body))
    answer = await _call(serving, "POST", "/forward")
    assert [m["type"] for m in answer.messages] == ["http.response.start", "http.response.body"]
    assert answer.messages[1]["body"] is body
    assert answer.messages[1]["more_body"] is False
    headers = answer.messages[0]["headers"]
    names = [name for name, _ in headers]
    # One of each: ours replace the upstream's length and request id.
    assert names.count(b"x-request-id") == names.count(b"content-length") == 1
    assert answer.headers["x-request-id"] != "the-upstream's-own"
    assert answer.headers["content-length"] == str(len(body))
    # The upstream's Date is kept; without a type, the one Quart's response gave.
    assert answer.headers["date"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["x-kept"] == "kept"


async def test_an_answer_without_a_date_gets_one(
    serving: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stand_in(monkeypatch, Answer(204, [("Content-Type", "text/plain")], b""))
    answer = await _call(serving, "POST", "/forward")
    assert answer.headers["date"].endswith(" GMT")
    assert answer.headers["content-type"] == "text/plain"


class _Stream:
    """A streamed body that yields ``chunks`` and then waits; records that it was closed."""

    def __init__(self, *chunks: bytes, then_wait: bool = False) -> None:
        self._chunks = list(chunks)
        self._then_wait = then_wait
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._then_wait:
            await asyncio.Event().wait()

    async def aclose(self) -> None:
        self.closed = True


async def test_a_stream_is_relayed_chunk_by_chunk_and_closed(
    serving: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = _Stream(b"data: 1\n\n", b"data: 2\n\n")
    _stand_in(monkeypatch, Answer(200, [("Content-Type", "text/event-stream")], stream))
    answer = await _call(serving, "POST", "/forward")
    assert "content-length" not in answer.headers
    assert [m.get("body") for m in answer.messages[1:]] == [b"data: 1\n\n", b"data: 2\n\n", b""]
    assert answer.messages[-1]["more_body"] is False
    assert stream.closed


async def test_a_client_gone_mid_stream_ends_it(
    serving: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The upstream never ends its stream; the agent leaving must end the relay anyway.
    stream = _Stream(b"data: 1\n\n", then_wait=True)
    _stand_in(monkeypatch, Answer(200, [("Content-Type", "text/event-stream")], stream))
    answer = await _call(serving, "POST", "/forward", then_disconnect=True)
    assert answer.status == 200
    assert stream.closed


async def test_other_paths_are_quarts(serving: Quart) -> None:
    answer = await _call(serving, "POST", "/forward/")
    assert answer.status == 404
    assert answer.json()["error"] == "not_found"
    uuid.UUID(answer.headers["x-request-id"])
