"""Approving over the API: eligibility, allowed_approvers, min_approvals, passkey refusal."""

from __future__ import annotations

import base64
import hashlib
import json

import asyncpg

from app.approvals import decisions
from tests.support.admin_api import Api, park_request


async def _status(database_url: str, txn: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        status: str = await conn.fetchval(
            "SELECT status FROM approvals WHERE txn_id = $1::uuid", txn
        )
    finally:
        await conn.close()
    return status


async def test_min_approvals_needs_distinct_members(api: Api, database_url: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    admin = await api.invite(owner, "adam@example.com", role="admin")
    txn = await park_request(database_url, owner.team_id, "stripe", min_approvals=2)
    inbox = await api.call("GET", "/team/approvals", owner.token)
    item = inbox.body["approvals"][0]
    assert item["txn_id"] == txn and item["method"] == "POST" and item["body_preview"] == '{"a":1}'
    first = await api.call("POST", f"/team/approvals/{txn}/approve", owner.token)
    assert first.body == {
        "txn_id": txn,
        "decision": "approve",
        "status": "pending",
        "approvals": 1,
        "needed": 2,
    }
    twice = await api.call("POST", f"/team/approvals/{txn}/approve", owner.token)
    assert twice.body["approvals"] == 1, "one vote per member"
    second = await api.call("POST", f"/team/approvals/{txn}/approve", admin.token)
    assert second.body["status"] == "approved"
    # The executor may already have claimed it for forwarding.
    assert await _status(database_url, txn) in ("approved", "forwarding", "forwarded", "error")
    late = await api.call("POST", f"/team/approvals/{txn}/deny", owner.token)
    assert late.status == 409 and late.body["error"] == "already_decided"


async def test_any_eligible_deny_ends_it(api: Api, database_url: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    txn = await park_request(database_url, owner.team_id, "stripe", min_approvals=3)
    await api.call("POST", f"/team/approvals/{txn}/approve", owner.token)
    denied = await api.call("POST", f"/team/approvals/{txn}/deny", owner.token)
    assert denied.body["status"] == "denied" and await _status(database_url, txn) == "denied"


async def test_allowed_approvers_and_passkey(api: Api, database_url: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    admin = await api.invite(owner, "adam@example.com", role="admin")
    only_ann = await park_request(
        database_url, owner.team_id, "stripe", allowed=("ann@example.com",)
    )
    assert (await api.call("GET", "/team/approvals", admin.token)).body["approvals"] == []
    refused = await api.call("POST", f"/team/approvals/{only_ann}/approve", admin.token)
    assert refused.status == 403 and refused.body["error"] == "not_an_allowed_approver"
    passkey = await park_request(database_url, owner.team_id, "stripe", require_passkey=True)
    needs = await api.call("POST", f"/team/approvals/{passkey}/approve", owner.token)
    assert needs.status == 412 and needs.body["error"] == "passkey_required"
    assert (await api.call("POST", f"/team/approvals/{passkey}/deny", owner.token)).body[
        "status"
    ] == "denied"


async def test_unknown_and_malformed_ids(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    for txn in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        reply = await api.call("POST", f"/team/approvals/{txn}/approve", owner.token)
        assert reply.status == 404 and reply.body["error"] == "approval_not_found"


async def test_agent_key_cannot_approve(api: Api, database_url: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    txn = await park_request(database_url, owner.team_id, "stripe")
    for headers in ({"X-TAP-Key": "tap_x"}, {"Authorization": "Bearer tap_x"}):
        reply = await api.call("POST", f"/team/approvals/{txn}/approve", headers=headers)
        assert reply.status == 403 and reply.body["error"] == "agent_key_not_allowed"
    assert await _status(database_url, txn) == "pending"


async def test_approvers_see_everything_that_will_be_sent(api: Api, database_url: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    body = b"\xff\xd8" + b"\x00" * 10_000
    txn = await park_request(
        database_url,
        owner.team_id,
        "stripe",
        headers=(
            ("Content-Type", "application/octet-stream"),
            ("X-HTTP-Method-Override", "DELETE"),
            ("Authorization", "Bearer agent-chosen-value"),
            ("X-Api-Key", "agent-own-secret"),
        ),
        body=body,
    )
    (item,) = (await api.call("GET", "/team/approvals", owner.token)).body["approvals"]
    assert item["txn_id"] == txn and item["mode"] == "unified"
    assert item["credential_names"] == ["stripe"]
    headers = [tuple(h) for h in item["headers"]]
    assert ("X-HTTP-Method-Override", "DELETE") in headers
    assert headers[-1] == ("Authorization", "[set by TAP from credential stripe]")
    assert "agent-chosen-value" not in str(item) and "agent-own-secret" not in str(item)
    assert [w["code"] for w in item["warnings"]] == ["method_override"]
    assert item["body_size"] == len(body)
    assert item["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert item["body_truncated"] is True and item["body_encoding"] == "base64"
    assert base64.b64decode(item["body_preview"]) == body[:4096]


async def test_every_surface_gets_the_same_plain_json(api: Api, database_url: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    await park_request(database_url, owner.team_id, "stripe", body=b"a" * 5000)
    conn = await asyncpg.connect(database_url)
    try:
        (pending,) = await decisions.list_pending(conn, owner.team_id)
    finally:
        await conn.close()
    shown = json.loads(json.dumps(pending.to_json()))
    assert shown["body_size"] == 5000 and shown["body_truncated"] is True
    assert shown["body_sha256"] == hashlib.sha256(b"a" * 5000).hexdigest()
    (listed,) = (await api.call("GET", "/team/approvals", owner.token)).body["approvals"]
    assert {k: listed[k] for k in shown if k not in ("created_at", "expires_at")} == {
        k: v for k, v in shown.items() if k not in ("created_at", "expires_at")
    }
