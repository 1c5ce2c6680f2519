"""The homeserver boundary: every failure is a MatrixError, ids stay inside their path segment."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from app.channels.matrix.client import MatrixClient, MatrixError
from app.secret import Secret
from tests.support.loopback import LoopbackServer, Reply, Request
from tests.support.proxy import free_port

TOKEN = "syt_secret_token_value"


class Homeserver:
    """A loopback server answering whatever the test sets in ``reply``."""

    def __init__(self) -> None:
        self.reply = Reply.json(200, {"event_id": "$e"})
        self.server = LoopbackServer(self._handle)

    def _handle(self, _request: Request) -> Reply:
        return self.reply


@pytest.fixture
def homeserver() -> Iterator[Homeserver]:
    fake = Homeserver()
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(http: aiohttp.ClientSession, port: int) -> MatrixClient:
    return MatrixClient(http, f"http://127.0.0.1:{port}/", Secret(TOKEN))


async def test_ids_are_encoded_whole_and_the_token_goes_in_the_header(
    homeserver: Homeserver, http: aiohttp.ClientSession
) -> None:
    event_id = await client(http, homeserver.server.port).send(
        "!room/../x?y:hs", "m.room.message", {}
    )
    assert event_id == "$e"
    (request,) = homeserver.server.received
    assert request.method == "PUT"
    # '/' and '?' stay encoded ('!' and ':' may appear in a path as they are).
    assert request.path.startswith(
        "/_matrix/client/v3/rooms/!room%2F..%2Fx%3Fy:hs/send/m.room.message/"
    )
    assert request.query == {}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("reply", "status", "errcode", "permanent"),
    [
        # refusals: a 4xx will not change by retrying, except a rate limit
        (
            Reply.json(403, {"errcode": "M_FORBIDDEN", "error": "not in room"}),
            403,
            "M_FORBIDDEN",
            True,
        ),
        (Reply.json(429, {"errcode": "M_LIMIT_EXCEEDED"}), 429, "M_LIMIT_EXCEEDED", False),
        # a broken homeserver or proxy in front of it
        (Reply(502, b"<html>bad gateway</html>"), 502, None, False),
        (Reply.json(200, ["not", "an", "object"]), 200, "not_an_object", False),
        (Reply(200, b"not json"), 200, "not_json", False),
        (Reply.json(200, {"no": "event id"}), 200, "no_event_id", False),
    ],
)
async def test_every_failure_is_a_matrix_error(
    homeserver: Homeserver,
    http: aiohttp.ClientSession,
    reply: Reply,
    status: int,
    errcode: str | None,
    permanent: bool,
) -> None:
    homeserver.reply = reply
    with pytest.raises(MatrixError) as failed:
        await client(http, homeserver.server.port).send("!r:hs", "m.room.message", {})
    assert (failed.value.status, failed.value.errcode, failed.value.permanent) == (
        status,
        errcode,
        permanent,
    )
    assert TOKEN not in str(failed.value)


async def test_an_unreachable_homeserver_is_a_retryable_error(http: aiohttp.ClientSession) -> None:
    unreachable = client(http, free_port())
    with pytest.raises(MatrixError) as failed:
        await unreachable.whoami()
    assert failed.value.status == 0 and not failed.value.permanent
    assert TOKEN not in repr(unreachable) + str(failed.value)
