"""The headers stage: what stays in TAP, what goes upstream, and every refusal."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, cast

import pytest

from app.errors import ProxyError
from app.proxy import headers
from app.proxy.context import ForwardContext

BASE = [
    ("X-TAP-Key", "k"),
    ("X-TAP-Target", "https://api.example.com/v1"),
    ("X-TAP-Credential", "gh"),
]


def _run(raw: list[tuple[str, str]]) -> ForwardContext:
    ctx = ForwardContext(
        rt=cast(Any, None),
        request_id=uuid.uuid4(),
        started=time.perf_counter(),
        raw_headers=raw,
        body=b"",
    )
    return asyncio.run(headers.run(ctx))


@pytest.mark.parametrize(
    ("extra", "forwarded"),
    [
        # Ordinary headers pass in order, with the agent's spelling.
        ([("Accept", "a"), ("x-Custom", "b")], [("Accept", "a"), ("x-Custom", "b")]),
        # Hop-by-hop and client-identity headers stay here, whatever their case.
        ([("HOST", "h"), ("Keep-Alive", "1"), ("Via", "p"), ("Accept", "a")], [("Accept", "a")]),
        ([("X-Forwarded-For", "1.2.3.4"), ("x-forwarded-host", "h")], []),
        ([("CF-Connecting-IP", "1.2.3.4"), ("Forwarded", "for=x")], []),
        # A name the Connection header lists is hop-by-hop too, before or after it.
        (
            [("X-Secret-Hop", "1"), ("Connection", "close, X-SECRET-hop"), ("Accept", "a")],
            [("Accept", "a")],
        ),
        ([("Connection", " x-one ,x-two"), ("X-Two", "2"), ("X-Three", "3")], [("X-Three", "3")]),
    ],
)
def test_forwarded_headers(extra: list[tuple[str, str]], forwarded: list[tuple[str, str]]) -> None:
    ctx = _run(BASE + extra)
    assert ctx.forward_headers == forwarded
    assert ctx.api_key.reveal() == "k"
    assert ctx.credential_name == "gh"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        # Unknown or repeated control headers.
        ([*BASE, ("X-TAP-Secret", "1")], "unknown_tap_header"),
        ([*BASE, ("x-tap-key", "again")], "duplicate_header"),
        # Missing or unusable control headers.
        (BASE[1:], "missing_tap_key"),
        ([BASE[0], BASE[2]], "missing_target"),
        ([*BASE, ("X-TAP-Auth-Mode", "kerberos")], "invalid_auth_mode"),
        ([*BASE, ("X-TAP-End-User", "u")], "end_user_not_supported"),
        ([*BASE, ("X-TAP-Method", "GE T")], "invalid_method"),
        # Placeholder mode needs a reference.
        (BASE[:2], "missing_credential"),
    ],
)
def test_refusals(raw: list[tuple[str, str]], code: str) -> None:
    with pytest.raises(ProxyError) as caught:
        _run(raw)
    assert caught.value.code == code


def test_placeholder_names_in_order_once() -> None:
    ctx = _run(
        [
            *BASE[:2],
            ("Authorization", "Bearer <CREDENTIAL:b>"),
            ("X-Api-Key", "<CREDENTIAL:a.key> <CREDENTIAL:b>"),
        ]
    )
    assert ctx.credential_name is None
    assert ctx.placeholder_names == ["b", "a"]
