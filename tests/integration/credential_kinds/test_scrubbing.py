"""Every secret field of every kind is scrubbed from the answer, in every encoding the sanitizer
knows, while public fields (a region, a consumer key) pass through."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import quote

import pytest
from aiohttp import web

from tests.support.tap import Tap
from tests.support.upstream import Received, Upstream

SECRETS: dict[str, dict[str, str]] = {
    "oauth1": {
        "consumer_secret": "consumer-secret-0123456789",
        "access_token": "1234-access-token-abcdefghij",
        "access_token_secret": "token-secret/+=0123456789",
        "bearer_token": "AAAA%bearer-token-0123456789",
    },
    "aws-sigv4": {
        "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSCRUB",
        "session_token": 'FwoGZXIvYXdzSESSION"token\\0123',
    },
}
FLAGS = {
    "oauth1": ["--consumer-key", "ck-public-0123456789"],
    "aws-sigv4": [
        "--access-key-id",
        "AKIDPUBLIC0123",
        "--region",
        "eu-central-1",
        "--service",
        "s3",
    ],
}
PUBLIC = {"oauth1": "ck-public-0123456789", "aws-sigv4": "eu-central-1"}


def _encodings(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        raw.hex(),
    ]


def _echo_everything(received: Received) -> web.Response:
    forms = [form for kind in SECRETS.values() for s in kind.values() for form in _encodings(s)]
    return web.Response(text="\n".join([*forms, *PUBLIC.values()]))


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_secret_fields_are_scrubbed_in_every_encoding(
    tap: Tap, add_kind: Callable[..., None], served: Callable[..., Upstream], kind: str
) -> None:
    upstream = served(_echo_everything)
    add_kind("c", kind, SECRETS[kind], *FLAGS[kind], "--allowed-host", "127.0.0.1")
    key = tap.agent("bot", "--credentials", "c")
    response = tap.forward(key, "c", upstream.url + "/echo")
    assert response.status_code == 200, response.text
    for secret in SECRETS[kind].values():
        for form in _encodings(secret):
            assert form not in response.text, (secret[:4], form[:8])
    assert PUBLIC[kind] in response.text
