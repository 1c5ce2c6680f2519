"""Tests for attestation/_http.py, against HTTPS servers on loopback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from attestation._http import MAX_BODY_BYTES, get_json, open_client
from attestation.errors import FetchError
from tests.support.attestation import Received, serve


def test_returns_the_json_object(loopback_tls: Any, tls_client: httpx.Client) -> None:
    with serve(lambda r, o: (200, {"ok": True}), loopback_tls) as server:
        assert get_json(tls_client, server.origin + "/x?nonce=1") == {"ok": True}
    assert server.received == [Received("GET", "/x", {"nonce": ["1"]})]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        # redirects are never followed
        (302, {"location": "https://127.0.0.1:1/elsewhere"}),
        # any status but 200
        (503, {"status": "error"}),
        (204, b""),
        # bodies that are not one JSON object, or too large
        (200, b"not json"),
        (200, [1, 2]),
        (200, b'{"a": 1, "a": 2}'),
        (200, b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}"),
    ],
)
def test_refusals(loopback_tls: Any, tls_client: httpx.Client, status: int, body: Any) -> None:
    with serve(lambda r, o: (status, body), loopback_tls) as server, pytest.raises(FetchError):
        get_json(tls_client, server.origin + "/x")
    assert len(server.received) == 1


def test_untrusted_certificate_is_refused(loopback_tls: Any) -> None:
    with (
        serve(lambda r, o: (200, {}), loopback_tls) as server,
        open_client() as client,
        pytest.raises(FetchError),
    ):
        get_json(client, server.origin + "/x")


def test_unreachable(tls_client: httpx.Client) -> None:
    with pytest.raises(FetchError):
        get_json(tls_client, "https://127.0.0.1:1/x")


def test_client_defaults() -> None:
    with open_client() as client:
        assert client.follow_redirects is False
        assert client.timeout.read is not None
