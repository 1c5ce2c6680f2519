"""Agent keys never outlive their owner's rights (issue 11, finding 7), over HTTP against a real tap-proxy."""

from __future__ import annotations

import time

import httpx

from tests.support.admin_api import Member, RemoteApi
from tests.support.upstream import Upstream


def _forward(api: RemoteApi, upstream: Upstream, key: str, credential: str) -> int:
    reply = httpx.post(
        api.url + "/forward",
        timeout=30,
        headers={
            "X-TAP-Key": key,
            "X-TAP-Credential": credential,
            "X-TAP-Target": upstream.url + "/v1/items",
            "X-TAP-Method": "GET",
        },
    )
    return reply.status_code


def _eventually(api: RemoteApi, upstream: Upstream, key: str, credential: str, want: int) -> int:
    """The /forward status once it is ``want``, or the last one at the deadline (caches refresh on NOTIFY)."""
    deadline = time.monotonic() + 10
    while True:
        status = _forward(api, upstream, key, credential)
        if status == want or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


async def _team(api: RemoteApi) -> Member:
    owner = await api.signup("acme", "ann@example.com")
    settings = await api.call(
        "PUT", "/team/settings", owner.token, json={"default_approval_mode": "autonomous"}
    )
    assert settings.status == 200, settings.body
    for name in ("demo", "other"):
        made = await api.call(
            "POST",
            "/team/credentials",
            owner.token,
            json={
                "name": name,
                "description": f"{name} api",
                "allowed_hosts": ["127.0.0.1"],
                "value": f"{name}-secret-value",
                "auth_header_format": "Bearer {value}",
            },
        )
        assert made.status == 201, made.body
    return owner


async def _agent(api: RemoteApi, member: Member, name: str, credentials: list[str]) -> str:
    made = await api.call(
        "POST", "/team/agents", member.token, json={"id": name, "credentials": credentials}
    )
    assert made.status == 201, made.body
    key: str = made.body["api_key"]
    return key


async def _assign(api: RemoteApi, owner: Member, member: Member, credential: str) -> None:
    reply = await api.call(
        "POST",
        f"/team/members/{member.user_id}/credentials",
        owner.token,
        json={"credential_name": credential},
    )
    assert reply.status == 200, reply.body


async def test_unassigning_a_credential_stops_the_approvers_agent(
    remote: RemoteApi, upstream: Upstream
) -> None:
    owner = await _team(remote)
    carol = await remote.invite(owner, "carol@example.com")
    await _assign(remote, owner, carol, "demo")
    key = await _agent(remote, carol, "cbot", ["demo"])
    assert _forward(remote, upstream, key, "demo") == 200
    unassigned = await remote.call(
        "DELETE", f"/team/members/{carol.user_id}/credentials/demo", owner.token
    )
    assert unassigned.status == 200
    assert _eventually(remote, upstream, key, "demo", 403) == 403


async def test_removing_a_member_disables_their_agents(
    remote: RemoteApi, upstream: Upstream
) -> None:
    owner = await _team(remote)
    carol = await remote.invite(owner, "carol@example.com")
    await _assign(remote, owner, carol, "demo")
    key = await _agent(remote, carol, "cbot", ["demo"])
    assert _forward(remote, upstream, key, "demo") == 200
    removed = await remote.call("DELETE", f"/team/members/{carol.user_id}", owner.token)
    assert removed.status == 200
    assert _eventually(remote, upstream, key, "demo", 401) == 401
    agent = await remote.call("GET", "/team/agents/cbot", owner.token)
    assert agent.body["enabled"] is False and agent.body["effective_credentials"] == []


async def test_a_demoted_admin_loses_reach_and_cannot_undo_a_managers_disable(
    remote: RemoteApi, upstream: Upstream
) -> None:
    owner = await _team(remote)
    adam = await remote.invite(owner, "adam@example.com", role="admin")
    key = await _agent(remote, adam, "abot", ["demo", "other"])
    assert _forward(remote, upstream, key, "other") == 200
    await _assign(remote, owner, adam, "demo")
    demoted = await remote.call(
        "PUT", f"/team/members/{adam.user_id}/role", owner.token, json={"role": "approver"}
    )
    assert demoted.status == 200
    # As an approver, Adam's key reaches only what is assigned to him now.
    assert _eventually(remote, upstream, key, "other", 403) == 403
    assert _forward(remote, upstream, key, "demo") == 200
    # The owner turns the key off; Adam cannot turn it back on or mint a fresh key.
    disabled = await remote.call("POST", "/team/agents/abot/disable", owner.token)
    assert disabled.status == 200
    for action in ("enable", "rotate-key"):
        refused = await remote.call("POST", f"/team/agents/abot/{action}", adam.token)
        assert refused.status == 403, (action, refused.body)
    assert _eventually(remote, upstream, key, "demo", 401) == 401
    assert (await remote.call("POST", "/team/agents/abot/enable", owner.token)).status == 200
    assert _eventually(remote, upstream, key, "demo", 200) == 200


async def test_an_approver_may_still_re_enable_a_key_they_disabled(remote: RemoteApi) -> None:
    owner = await _team(remote)
    carol = await remote.invite(owner, "carol@example.com")
    await _assign(remote, owner, carol, "demo")
    await _agent(remote, carol, "cbot", ["demo"])
    assert (await remote.call("POST", "/team/agents/cbot/disable", carol.token)).status == 200
    assert (await remote.call("POST", "/team/agents/cbot/enable", carol.token)).status == 200
