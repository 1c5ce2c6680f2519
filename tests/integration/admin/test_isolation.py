"""Cross-team isolation on every endpoint, and the approver column of the permission matrix."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support.admin_api import Api, Member, park_request


@dataclass
class TeamB:
    owner: Member
    approver: Member
    invite_id: str
    txn: str


async def build_team_b(api: Api, database_url: str) -> TeamB:
    bob = await api.signup("bobs", "bob@example.com")
    for path, body in (
        (
            "/team/credentials",
            {
                "name": "stripe-b",
                "allowed_hosts": ["api.stripe.com"],
                "value": "sk_live_bbbbbbbbbbbb",
            },
        ),
        ("/team/roles", {"name": "role-b", "credentials": ["stripe-b"]}),
        ("/team/agents", {"id": "bot-b", "credentials": ["stripe-b"]}),
        ("/team/notification-channels", {"channel_type": "dashboard", "name": "chan-b"}),
    ):
        assert (await api.call("POST", path, bob.token, json=body)).status == 201
    assert (await api.call("PUT", "/team/policies/stripe-b", bob.token, json={})).status == 200
    carol = await api.invite(bob, "carol@example.com")
    pending = await api.call(
        "POST", "/team/members/invite", bob.token, json={"email": "dan@example.com"}
    )
    txn = await park_request(database_url, bob.team_id, "stripe-b")
    return TeamB(bob, carol, pending.body["invite_id"], txn)


def team_b_requests(b: TeamB) -> list[tuple[str, str, object]]:
    member, invite, txn = b.approver.user_id, b.invite_id, b.txn
    return [
        ("GET", "/team/credentials/stripe-b", None),
        ("PATCH", "/team/credentials/stripe-b", {"description": "pwned"}),
        ("PATCH", "/team/credentials/stripe-b/secret", {"value": "attacker-value-123"}),
        ("DELETE", "/team/credentials/stripe-b", None),
        ("GET", "/team/agents/bot-b", None),
        ("POST", "/team/agents/bot-b/disable", None),
        ("POST", "/team/agents/bot-b/enable", None),
        ("POST", "/team/agents/bot-b/rotate-key", None),
        ("DELETE", "/team/agents/bot-b", None),
        ("GET", "/team/roles/role-b", None),
        ("POST", "/team/roles/role-b/credentials", {"credential": "stripe-b"}),
        ("DELETE", "/team/roles/role-b/credentials/stripe-b", None),
        ("DELETE", "/team/roles/role-b", None),
        ("GET", "/team/policies/stripe-b", None),
        ("PUT", "/team/policies/stripe-b", {}),
        ("DELETE", "/team/policies/stripe-b", None),
        ("DELETE", "/team/notification-channels/chan-b", None),
        ("POST", "/team/notification-channels/chan-b/default", None),
        ("DELETE", f"/team/members/{member}", None),
        ("PUT", f"/team/members/{member}/role", {"role": "admin"}),
        ("GET", f"/team/members/{member}/credentials", None),
        ("POST", f"/team/members/{member}/credentials", {"credential_name": "stripe-b"}),
        ("DELETE", f"/team/members/{member}/credentials/stripe-b", None),
        ("DELETE", f"/team/members/invites/{invite}", None),
        ("POST", f"/team/approvals/{txn}/approve", None),
        ("POST", f"/team/approvals/{txn}/deny", None),
    ]


async def test_a_member_of_team_a_cannot_touch_anything_of_team_b(
    api: Api, database_url: str
) -> None:
    b = await build_team_b(api, database_url)
    ann = await api.signup("acme", "ann@example.com")
    for method, path, body in team_b_requests(b):
        reply = await api.call(method, path, ann.token, json=body)
        assert reply.status in (403, 404), (method, path, reply.status, reply.body)
    # Lists show only team A's objects.
    for path, key in (
        ("/team/credentials", "credentials"),
        ("/team/agents", "agents"),
        ("/team/roles", "roles"),
        ("/team/notification-channels", "channels"),
        ("/team/approvals", "approvals"),
        ("/team/audit", "entries"),
    ):
        assert (await api.call("GET", path, ann.token)).body[key] == [], path
    members = await api.call("GET", "/team/members", ann.token)
    assert [m["email"] for m in members.body["members"]] == ["ann@example.com"] and members.body[
        "pending_invites"
    ] == []
    # Team B is untouched.
    agent = await api.call("GET", "/team/agents/bot-b", b.owner.token)
    assert agent.body["enabled"] is True
    cred = await api.call("GET", "/team/credentials/stripe-b", b.owner.token)
    assert cred.body["description"] == "" and cred.body["value_hint"] == "sk***bb"
    assert len((await api.call("GET", "/team/approvals", b.owner.token)).body["approvals"]) == 1
    assert (
        await api.call("GET", f"/team/members/{b.approver.user_id}/credentials", b.owner.token)
    ).status == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        # managing credentials
        ("POST", "/team/credentials", {"name": "new", "allowed_hosts": ["a.io"]}),
        ("PATCH", "/team/credentials/stripe", {"description": "x"}),
        ("PATCH", "/team/credentials/stripe/secret", {"value": "another-value-123"}),
        ("DELETE", "/team/credentials/stripe", None),
        # roles, policies, settings, channels, audit
        ("GET", "/team/roles", None),
        ("POST", "/team/roles", {"name": "r"}),
        ("GET", "/team/policies/stripe", None),
        ("PUT", "/team/policies/stripe", {}),
        ("PUT", "/team/settings", {"default_approval_mode": "autonomous"}),
        ("GET", "/team/notification-channels", None),
        ("POST", "/team/notification-channels", {"channel_type": "dashboard", "name": "d"}),
        ("GET", "/team/audit", None),
        # members
        ("POST", "/team/members/invite", {"email": "x@example.com"}),
        # keys beyond their own: roles, all credentials, unassigned credentials
        ("POST", "/team/agents", {"id": "a1", "roles": ["billing"]}),
        ("POST", "/team/agents", {"id": "a2", "all_credentials": True}),
        ("POST", "/team/agents", {"id": "a3", "credentials": ["github"]}),
    ],
)
async def test_approver_may_not(api: Api, method: str, path: str, body: object) -> None:
    owner, approver = await _team_with_approver(api)
    reply = await api.call(method, path, approver.token, json=body)
    assert reply.status == 403 and reply.body["error"] == "forbidden", reply.body


async def _team_with_approver(api: Api) -> tuple[Member, Member]:
    owner = await api.signup("acme", "ann@example.com")
    for name, host in (("stripe", "api.stripe.com"), ("github", "api.github.com")):
        body = {"name": name, "allowed_hosts": [host], "value": "v" * 16}
        assert (await api.call("POST", "/team/credentials", owner.token, json=body)).status == 201
    await api.call(
        "POST", "/team/roles", owner.token, json={"name": "billing", "credentials": ["stripe"]}
    )
    approver = await api.invite(owner, "dave@example.com")
    assigned = await api.call(
        "POST",
        f"/team/members/{approver.user_id}/credentials",
        owner.token,
        json={"credential_name": "stripe"},
    )
    assert assigned.body["credentials"] == ["stripe"]
    return owner, approver


async def test_approver_sees_only_assigned_credentials_and_own_keys(
    api: Api, database_url: str
) -> None:
    owner, approver = await _team_with_approver(api)
    listed = await api.call("GET", "/team/credentials", approver.token)
    assert [c["name"] for c in listed.body["credentials"]] == ["stripe"]
    assert (await api.call("GET", "/team/credentials/github", approver.token)).status == 404
    assert (await api.call("GET", "/team/credentials/stripe", approver.token)).status == 200

    own = await api.call(
        "POST", "/team/agents", approver.token, json={"id": "mine", "credentials": ["stripe"]}
    )
    assert own.status == 201 and own.body["agent"]["owner_user_id"] == approver.user_id
    await api.call(
        "POST", "/team/agents", owner.token, json={"id": "owners", "credentials": ["github"]}
    )
    assert [
        a["id"] for a in (await api.call("GET", "/team/agents", approver.token)).body["agents"]
    ] == ["mine"]
    for method, path in (
        ("GET", "/team/agents/owners"),
        ("POST", "/team/agents/owners/disable"),
        ("POST", "/team/agents/owners/rotate-key"),
        ("DELETE", "/team/agents/owners"),
    ):
        assert (await api.call(method, path, approver.token)).status == 404, path
    assert (await api.call("POST", "/team/agents/mine/rotate-key", approver.token)).status == 200
    assert (await api.call("GET", "/team/members", approver.token)).status == 200
    assert (
        await api.call("GET", f"/team/members/{approver.user_id}/credentials", approver.token)
    ).status == 200
    assert (
        await api.call("GET", f"/team/members/{owner.user_id}/credentials", approver.token)
    ).status == 403

    # Pending requests: only for assigned credentials, and unassigned ones cannot be decided.
    visible = await park_request(database_url, owner.team_id, "stripe")
    hidden = await park_request(database_url, owner.team_id, "github")
    inbox = await api.call("GET", "/team/approvals", approver.token)
    assert [a["txn_id"] for a in inbox.body["approvals"]] == [visible]
    assert (
        await api.call("POST", f"/team/approvals/{hidden}/approve", approver.token)
    ).status == 404
    assert (await api.call("POST", f"/team/approvals/{visible}/approve", approver.token)).body[
        "status"
    ] == "approved"
