"""The /team/* API for owners and admins: credentials, agents, roles, policies, settings, audit, channels."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable

import asyncpg

from app.audit_chain import CheckpointPolicy
from app.crypto import KeyRing
from app.store import audit as audit_store
from tests.support.admin_api import Api, Member

SECRET = "sk_live_0123456789abcdef"


async def _credential(api: Api, owner: Member, name: str = "stripe", **extra: object) -> None:
    body = {
        "name": name,
        "description": "payments",
        "allowed_hosts": ["api.stripe.com"],
        "value": SECRET,
        "auth_header_format": "Bearer {value}",
        **extra,
    }
    reply = await api.call("POST", "/team/credentials", owner.token, json=body)
    assert reply.status == 201, reply.body


async def test_credentials_are_write_only(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    created = await api.call(
        "POST",
        "/team/credentials",
        owner.token,
        json={
            "name": "stripe",
            "description": "payments",
            "allowed_hosts": ["API.Stripe.com"],
            "value": SECRET,
        },
    )
    assert created.status == 201 and created.body == {
        "name": "stripe",
        "created": True,
        "value_hint": "sk***ef",
    }
    listed = await api.call("GET", "/team/credentials", owner.token)
    one = await api.call("GET", "/team/credentials/stripe", owner.token)
    assert listed.body["credentials"][0]["allowed_hosts"] == ["api.stripe.com"]
    assert one.body["has_value"] is True and one.body["value_hint"] == "sk***ef"
    for reply in (created, listed, one):
        assert SECRET not in json.dumps(reply.body)

    # Metadata changes leave the value alone; replacing the value never echoes it.
    patched = await api.call(
        "PATCH", "/team/credentials/stripe", owner.token, json={"description": "new"}
    )
    assert (
        patched.status == 200
        and patched.body["description"] == "new"
        and patched.body["value_hint"] == "sk***ef"
    )
    replaced = await api.call(
        "PATCH",
        "/team/credentials/stripe/secret",
        owner.token,
        json={"value": "rk_test_zyxwvutsrqpo"},
    )
    assert replaced.body == {"name": "stripe", "updated": True, "value_hint": "rk***po"}
    both = await api.call(
        "PATCH",
        "/team/credentials/stripe/secret",
        owner.token,
        json={"value": "x" * 20, "value_patch": {"a": "b"}},
    )
    assert both.status == 400

    # JSON-object values merge with value_patch and show only their field names.
    await api.call(
        "POST",
        "/team/credentials",
        owner.token,
        json={
            "name": "multi",
            "allowed_hosts": ["example.com"],
            "value": {"key": "k-1", "secret": "s-1"},
        },
    )
    merged = await api.call(
        "PATCH", "/team/credentials/multi/secret", owner.token, json={"value_patch": {"extra": "e"}}
    )
    assert merged.body["value_hint"] == "{extra, key, secret}"

    assert (await api.call("DELETE", "/team/credentials/stripe", owner.token)).body == {
        "name": "stripe",
        "deleted": True,
    }
    assert (await api.call("GET", "/team/credentials/stripe", owner.token)).status == 404


async def test_credential_rules(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    no_hosts = await api.call(
        "POST", "/team/credentials", owner.token, json={"name": "x", "value": SECRET}
    )
    assert no_hosts.status == 400 and "allowed_hosts" in no_hosts.body["message"]
    relative = await api.call(
        "POST",
        "/team/credentials",
        owner.token,
        json={"name": "rel", "relative_target": True, "api_base": "https://api.example.com/v1"},
    )
    assert relative.status == 201
    bad_host = await api.call(
        "POST",
        "/team/credentials",
        owner.token,
        json={"name": "bad", "allowed_hosts": ["https://evil.example"]},
    )
    assert bad_host.status == 400 and bad_host.body["error"] == "invalid_input"
    bad_name = await api.call(
        "POST",
        "/team/credentials",
        owner.token,
        json={"name": "Bad Name", "allowed_hosts": ["a.io"]},
    )
    assert bad_name.status == 400
    await _credential(api, owner)
    duplicate = await api.call(
        "POST", "/team/credentials", owner.token, json={"name": "stripe", "allowed_hosts": ["a.io"]}
    )
    assert duplicate.status == 409


async def test_agents_roles_and_keys(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    await _credential(api, owner, "stripe")
    await _credential(api, owner, "github", allowed_hosts=["api.github.com"])
    role = await api.call(
        "POST", "/team/roles", owner.token, json={"name": "billing", "credentials": ["stripe"]}
    )
    assert role.status == 201 and role.body["credentials"] == ["stripe"]
    missing = await api.call(
        "POST", "/team/agents", owner.token, json={"id": "bot", "credentials": ["nope"]}
    )
    assert missing.status == 404, "unknown grants are refused up front, never ignored"

    created = await api.call(
        "POST",
        "/team/agents",
        owner.token,
        json={
            "id": "bot",
            "roles": ["billing"],
            "credentials": ["github"],
            "rate_limit_per_hour": 100,
        },
    )
    assert created.status == 201 and created.body["api_key"].startswith("tap_")
    assert created.body["agent"]["effective_credentials"] == ["github", "stripe"]
    shown = await api.call("GET", "/team/agents/bot", owner.token)
    assert "api_key" not in shown.body and shown.body["owner_user_id"] == owner.user_id

    rotated = await api.call("POST", "/team/agents/bot/rotate-key", owner.token)
    assert rotated.body["api_key"] != created.body["api_key"]
    assert (await api.call("POST", "/team/agents/bot/disable", owner.token)).body == {
        "id": "bot",
        "enabled": False,
    }
    assert (await api.call("POST", "/team/agents/bot/enable", owner.token)).body == {
        "id": "bot",
        "enabled": True,
    }

    # Roles: add and remove credentials; deleting a role takes its grants away.
    added = await api.call(
        "POST", "/team/roles/billing/credentials", owner.token, json={"credential": "github"}
    )
    assert added.body["credentials"] == ["github", "stripe"]
    removed = await api.call("DELETE", "/team/roles/billing/credentials/stripe", owner.token)
    assert removed.body["credentials"] == ["github"]
    assert (await api.call("DELETE", "/team/roles/billing", owner.token)).status == 200
    assert (await api.call("GET", "/team/agents/bot", owner.token)).body[
        "effective_credentials"
    ] == ["github"]
    assert (await api.call("DELETE", "/team/agents/bot", owner.token)).status == 200
    assert (await api.call("GET", "/team/agents", owner.token)).body == {"agents": []}


async def test_policy_replace_semantics(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    await _credential(api, owner)
    assert (await api.call("GET", "/team/policies/stripe", owner.token)).status == 404
    first = await api.call(
        "PUT",
        "/team/policies/stripe",
        owner.token,
        json={
            "auto_approve_methods": ["get", "HEAD"],
            "require_approval_methods": ["POST"],
            "require_approval_urls": ["/v1/refunds"],
            "auto_approve_urls": ["/v1/charges"],
            "allowed_approvers": ["Ann@Example.com"],
            "approval_channel": "App",
            "min_approvals": 0,
            "require_passkey": True,
        },
    )
    assert first.status == 200 and first.body["policy_set"] is True
    policy = first.body["policy"]
    assert (
        policy["auto_approve_methods"] == ["GET", "HEAD"]
        and policy["approval_channel"] == "agent_reflected"
    )
    assert policy["min_approvals"] == 1 and policy["allowed_approvers"] == ["ann@example.com"]

    # A PUT replaces everything, except require_approval_urls when it is omitted.
    second = await api.call(
        "PUT", "/team/policies/stripe", owner.token, json={"require_approval_methods": ["DELETE"]}
    )
    policy = second.body["policy"]
    assert policy["require_approval_urls"] == ["/v1/refunds"]
    assert (
        policy["auto_approve_methods"] == []
        and policy["auto_approve_urls"] == []
        and policy["require_passkey"] is False
    )
    cleared = await api.call(
        "PUT", "/team/policies/stripe", owner.token, json={"require_approval_urls": []}
    )
    assert cleared.body["policy"]["require_approval_urls"] == []

    stranger = await api.call(
        "PUT", "/team/policies/stripe", owner.token, json={"allowed_approvers": ["eve@example.com"]}
    )
    assert stranger.status == 400
    channel = await api.call(
        "PUT", "/team/policies/stripe", owner.token, json={"approval_channel": "pigeon"}
    )
    assert channel.status == 400
    unknown = await api.call("PUT", "/team/policies/nope", owner.token, json={})
    assert unknown.status == 404
    assert (await api.call("DELETE", "/team/policies/stripe", owner.token)).body == {
        "credential": "stripe",
        "policy_cleared": True,
    }


async def test_settings(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    reply = await api.call(
        "PUT", "/team/settings", owner.token, json={"default_approval_mode": "autonomous"}
    )
    assert reply.body == {"default_approval_mode": "autonomous"}
    assert (await api.call("GET", "/team", owner.token)).body[
        "default_approval_mode"
    ] == "autonomous"
    bad = await api.call(
        "PUT", "/team/settings", owner.token, json={"default_approval_mode": "yolo"}
    )
    assert bad.status == 400 and bad.body["error"] == "invalid_approval_mode"


async def test_audit_filters_and_pages(api: Api, database_url: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    other = await api.signup("bobs", "bob@example.com")
    stamp = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    rows = [
        {
            "request_id": str(uuid.uuid4()),
            "team_id": owner.team_id,
            "agent_id": "bot" if i % 2 else "other",
            "credential_names": ["stripe", "github"] if i % 3 == 0 else ["stripe"],
            "outcome": "refused" if i == 4 else "forwarded",
            "method": "GET",
            "target_url": "https://x/y",
            "timestamp": stamp + dt.timedelta(seconds=i // 3),
        }  # several rows share a timestamp
        for i in range(7)
    ]
    rows.append(
        {
            "request_id": str(uuid.uuid4()),
            "team_id": other.team_id,
            "agent_id": "bot",
            "credential_names": ["stripe"],
            "outcome": "forwarded",
            "timestamp": stamp,
        }
    )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        signer = KeyRing.from_master_key(bytes(32)).audit_signer()
        await audit_store.append(pool, rows, CheckpointPolicy(signer, 1000, 60))
    finally:
        await pool.close()

    seen: list[str] = []
    before = None
    while True:
        path = "/team/audit?limit=2" + (f"&before={before}" if before else "")
        page = await api.call("GET", path, owner.token)
        assert page.status == 200, page.body
        seen += [e["request_id"] for e in page.body["entries"]]
        before = page.body["next_before"]
        if before is None:
            break
    assert sorted(seen) == sorted(r["request_id"] for r in rows[:7]) and len(seen) == 7
    bots = await api.call("GET", "/team/audit?agent=bot", owner.token)
    assert len(bots.body["entries"]) == 3
    theirs = await api.call("GET", "/team/audit?agent=bot", other.token)
    assert len(theirs.body["entries"]) == 1, "same agent name in another team is another log"

    async def request_ids(query: str) -> set[str]:
        """Every row a filtered audit walk returns, following the cursor page by page."""
        found: list[str] = []
        cursor = None
        while True:
            path = f"/team/audit?limit=2&{query}" + (f"&before={cursor}" if cursor else "")
            page = await api.call("GET", path, owner.token)
            assert page.status == 200, page.body
            found += [e["request_id"] for e in page.body["entries"]]
            cursor = page.body["next_before"]
            if cursor is None:
                assert len(found) == len(set(found))
                return set(found)

    def expected(keep: Callable[[int], bool]) -> set[str]:
        return {str(rows[i]["request_id"]) for i in range(7) if keep(i)}

    assert await request_ids("credential=github") == expected(lambda i: i % 3 == 0)
    assert await request_ids("credential=stripe") == expected(lambda i: True)
    assert await request_ids("outcome=refused") == expected(lambda i: i == 4)
    assert await request_ids("agent=bot&credential=github") == expected(lambda i: i == 3)
    assert await request_ids("agent=other&outcome=forwarded&credential=github") == expected(
        lambda i: i in (0, 6)
    )
    assert await request_ids("outcome=error") == set()
    assert await request_ids("credential=nobody") == set()
    assert (await api.call("GET", "/team/audit?before=garbage", owner.token)).status == 400
    assert (await api.call("GET", "/team/audit?limit=0", owner.token)).status == 400


async def test_notification_channels(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    first = await api.call(
        "POST",
        "/team/notification-channels",
        owner.token,
        json={"channel_type": "dashboard", "name": "inbox"},
    )
    assert first.status == 201 and first.body["is_default"] is True
    tg = await api.call(
        "POST",
        "/team/notification-channels",
        owner.token,
        json={"channel_type": "telegram", "name": "ops", "config": {"chat_id": "-100123"}},
    )
    assert tg.status == 201 and tg.body["is_default"] is False
    for bad in (
        {"channel_type": "telegram", "name": "t2", "config": {}},
        {"channel_type": "matrix", "name": "m", "config": {"room_id": "general"}},
        {
            "channel_type": "matrix",
            "name": "m",
            "config": {"room_id": "!a:hs", "access_token": "x"},
        },
        {"channel_type": "dashboard", "name": "d2", "config": {"chat_id": "1"}},
        {"channel_type": "carrier-pigeon", "name": "p"},
    ):
        assert (
            await api.call("POST", "/team/notification-channels", owner.token, json=bad)
        ).status == 400, bad
    dup = await api.call(
        "POST",
        "/team/notification-channels",
        owner.token,
        json={"channel_type": "dashboard", "name": "inbox"},
    )
    assert dup.status == 409
    assert (
        await api.call("POST", "/team/notification-channels/ops/default", owner.token)
    ).status == 200
    listed = await api.call("GET", "/team/notification-channels", owner.token)
    assert [(c["name"], c["is_default"]) for c in listed.body["channels"]] == [
        ("ops", True),
        ("inbox", False),
    ]
    assert (await api.call("DELETE", "/team/notification-channels/ops", owner.token)).status == 200
    assert (await api.call("DELETE", "/team/notification-channels/ops", owner.token)).status == 404
