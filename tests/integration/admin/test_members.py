"""Members and invites: expiring single-use tokens, roles, removal, and the dev auto-login."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import asyncpg
import pytest

from tests.support.admin_api import PASSWORD, Api, running_api


async def test_invite_accept_is_single_use(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    invited = await api.call(
        "POST", "/team/members/invite", owner.token, json={"email": "Carol@Example.com"}
    )
    assert (
        invited.status == 201
        and invited.body["email_sent"] is True
        and invited.body["accept_url"] is None
    )
    email = api.resend.last_to("carol@example.com")
    assert "acme" in email.payload["subject"] and "ann@example.com" in email.text
    token = api.resend.link_token("carol@example.com")

    info = await api.call("GET", f"/invite/info?token={token}")
    assert info.body["next_step"] == "create_account" and info.body["member_role"] == "approver"
    accepted = await api.call(
        "POST", "/team/members/accept", json={"token": token, "password": PASSWORD}
    )
    assert accepted.status == 200 and accepted.body["team_id"] == owner.team_id
    assert (await api.call("GET", "/user/me", accepted.body["session_token"])).body[
        "member_role"
    ] == "approver"
    again = await api.call(
        "POST", "/team/members/accept", json={"token": token, "password": PASSWORD}
    )
    assert again.status == 404
    members = await api.call("GET", "/team/members", owner.token)
    assert [m["email"] for m in members.body["members"]] == ["ann@example.com", "carol@example.com"]
    dup = await api.call(
        "POST", "/team/members/invite", owner.token, json={"email": "carol@example.com"}
    )
    assert dup.status == 409


async def test_expired_invite_is_gone(api: Api, database_url: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    await api.call("POST", "/team/members/invite", owner.token, json={"email": "carol@example.com"})
    token = api.resend.link_token("carol@example.com")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE invites SET expires_at = now() - interval '1 second'")
    finally:
        await conn.close()
    reply = await api.call(
        "POST", "/team/members/accept", json={"token": token, "password": PASSWORD}
    )
    assert reply.status == 410 and reply.body["error"] == "expired"
    # An expired invite is not consumed by a later signup-and-login either.
    assert (
        await api.call("POST", "/login", json={"email": "carol@example.com", "password": PASSWORD})
    ).status == 401


async def test_invite_token_guesses_are_throttled(api: Api) -> None:
    for i in range(20):
        reply = await api.call(
            "POST", "/team/members/accept", json={"token": f"{i:064x}", "password": PASSWORD}
        )
        assert reply.status == 404
    blocked = await api.call("GET", "/invite/info?token=" + "f" * 64)
    assert blocked.status == 429


async def test_existing_account_joins_by_accepting_after_login(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    await api.signup("bobs", "bob@example.com")
    await api.call(
        "POST",
        "/team/members/invite",
        owner.token,
        json={"email": "bob@example.com", "role": "admin"},
    )
    token = api.resend.link_token("bob@example.com")
    assert (await api.call("GET", f"/invite/info?token={token}")).body[
        "next_step"
    ] == "login_to_accept"
    refused = await api.call(
        "POST", "/team/members/accept", json={"token": token, "password": PASSWORD}
    )
    assert refused.status == 409 and refused.body["existing_account"] is True
    bob = await api.login("bob@example.com")
    pending = (await api.call("GET", "/user/invites", bob.token)).body["invites"]
    assert [i["team_id"] for i in pending] == [owner.team_id]
    accepted = await api.call("POST", f"/user/invites/{pending[0]['id']}/accept", bob.token)
    assert accepted.status == 200
    switched = await api.call("POST", "/session/team", bob.token, json={"team_id": owner.team_id})
    assert switched.status == 200
    me = await api.call("GET", "/user/me", bob.token)
    assert me.body["team_id"] == owner.team_id and me.body["member_role"] == "admin"


async def test_roles_and_removal(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    admin = await api.invite(owner, "adam@example.com", role="admin")
    carol = await api.invite(owner, "carol@example.com")
    # Admins may invite, but not owners, and may not change roles.
    assert (
        await api.call(
            "POST",
            "/team/members/invite",
            admin.token,
            json={"email": "o@example.com", "role": "owner"},
        )
    ).status == 403
    assert (
        await api.call(
            "PUT", f"/team/members/{carol.user_id}/role", admin.token, json={"role": "admin"}
        )
    ).status == 403
    promoted = await api.call(
        "PUT", f"/team/members/{carol.user_id}/role", owner.token, json={"role": "admin"}
    )
    assert promoted.body == {"id": carol.user_id, "member_role": "admin"}
    assert (
        await api.call(
            "PUT", f"/team/members/{owner.user_id}/role", owner.token, json={"role": "admin"}
        )
    ).status == 409
    # Nobody removes themselves or an owner.
    assert (await api.call("DELETE", f"/team/members/{admin.user_id}", admin.token)).status == 409
    assert (await api.call("DELETE", f"/team/members/{owner.user_id}", admin.token)).status == 403
    # Removing a member ends their sessions at once.
    assert (await api.call("GET", "/team", carol.token)).status == 200
    removed = await api.call("DELETE", f"/team/members/{carol.user_id}", admin.token)
    assert removed.body == {"id": carol.user_id, "removed": True}
    assert (await api.call("GET", "/team", carol.token)).status == 401
    assert (
        await api.call("POST", "/login", json={"email": "carol@example.com", "password": PASSWORD})
    ).status == 403


async def test_cancelled_invite_cannot_be_used(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    invite = await api.call(
        "POST", "/team/members/invite", owner.token, json={"email": "carol@example.com"}
    )
    token = api.resend.link_token("carol@example.com")
    assert (await api.call("GET", "/team/members", owner.token)).body["pending_invites"][0][
        "id"
    ] == invite.body["invite_id"]
    assert (
        await api.call("DELETE", f"/team/members/invites/{invite.body['invite_id']}", owner.token)
    ).status == 200
    assert (
        await api.call("POST", "/team/members/accept", json={"token": token, "password": PASSWORD})
    ).status == 404


async def test_local_mode_invite_link_makes_an_unverified_account(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.admin.email")
    async with running_api(tmp_path, database_url, local_mode=True) as api:
        await api.call(
            "POST",
            "/signup",
            json={"team_name": "acme", "email": "ann@example.com", "password": PASSWORD},
        )
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE users SET email_verified = true")
        finally:
            await conn.close()
        owner = await api.login("ann@example.com")
        reply = await api.call(
            "POST", "/team/members/invite", owner.token, json={"email": "carol@example.com"}
        )
        assert reply.status == 201 and reply.body["email_sent"] is False
        match = re.search(r"invite_token=([0-9a-f]{64})$", reply.body["accept_url"])
        assert match and reply.body["accept_url"].startswith("http://localhost:3100/dashboard?")
        caplog.clear()
        accepted = await api.call(
            "POST", "/team/members/accept", json={"token": match.group(1), "password": PASSWORD}
        )
        # Whoever holds the link has not proven they own the address.
        assert accepted.status == 201 and accepted.body["email_verified"] is False
        assert "session_token" not in accepted.body
        refused = await api.call(
            "POST", "/login", json={"email": "carol@example.com", "password": PASSWORD}
        )
        assert refused.status == 403 and refused.body["unverified"] is True
        code = re.search(r"code is (\d{6})", caplog.text)
        assert code, caplog.text
        verified = await api.call(
            "POST", "/verify-email", json={"email": "carol@example.com", "code": code.group(1)}
        )
        assert verified.status == 200
        carol = await api.login("carol@example.com")
        assert carol.team_id == owner.team_id


async def test_dev_auto_login_only_when_enabled(
    tmp_path: Path, database_url: str, api: Api
) -> None:
    assert (await api.call("GET", "/dev/auto-login")).status == 404
    async with running_api(tmp_path, database_url, DANGEROUS_TAP_DEV_SKIP_AUTH="true") as dev:
        assert (await dev.call("GET", "/dev/auto-login")).status == 503
        await dev.signup("acme", "ann@example.com")
        page = await dev.call("GET", "/dev/auto-login")
        assert page.status == 200 and "tap.session" in page.body
        token = re.search(r'"token": "([0-9a-f]{64})"', page.body)
        assert token
        assert (await dev.call("GET", "/team", token.group(1))).status == 200
        # It bypasses nothing else.
        assert (await dev.call("GET", "/team")).status == 401
