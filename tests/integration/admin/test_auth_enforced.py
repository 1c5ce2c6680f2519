"""Every authenticated operation refuses a missing, expired or ended session (issue 12, item 1).

The route declaration enforces authentication (``@operation(authenticated=True)``),
so this walks the registry instead of a hand-kept list: a new route is covered
the moment it is declared.
"""

from __future__ import annotations

import re

import asyncpg
import pytest

from app.admin.contract import OPERATIONS, Operation
from tests.support.admin_api import Api


def _path(op: Operation) -> str:
    # Any segment reaches the handler's guard; the guard runs before path checks.
    return re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "x", op.rule)


async def _authenticated(api: Api) -> list[Operation]:
    assert api.client is not None  # the app is built, so every blueprint has registered
    ops = [op for op in OPERATIONS if op.authenticated]
    assert len({(op.method, op.rule) for op in ops}) >= 40, "the registry looks incomplete"
    return list({(op.method, op.rule): op for op in ops}.values())


async def _assert_all_401(api: Api, token: str | None) -> None:
    failures = []
    for op in await _authenticated(api):
        reply = await api.call(op.method, _path(op), token, json={} if op.body else None)
        if reply.status != 401 or not isinstance(reply.body, dict) or "error" not in reply.body:
            failures.append((op.method, op.rule, reply.status))
    assert not failures


async def test_no_session(api: Api) -> None:
    await _assert_all_401(api, None)


@pytest.mark.parametrize("token", ["not-a-token", "f" * 64])
async def test_unknown_session(api: Api, token: str) -> None:
    await _assert_all_401(api, token)


async def test_logged_out_session(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    assert (await api.call("POST", "/logout", owner.token)).status == 200
    await _assert_all_401(api, owner.token)


async def test_expired_session(api: Api, database_url: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second'")
    finally:
        await conn.close()
    await _assert_all_401(api, owner.token)


async def test_a_permission_is_enforced_by_the_declaration(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    carol = await api.invite(owner, "carol@example.com")
    declared = [op for op in OPERATIONS if op.permission and op.permission != "view_team"]
    assert declared
    refused = await api.call("GET", "/team/roles", carol.token)
    assert refused.status == 403 and refused.body["error"] == "forbidden"
