"""``POST /team/policies/{credential}/test`` answers what ``/forward`` does, for the same request.

Each case is judged twice: by the tester, and by a real ``/forward`` of the
same method and target (202 waits for a human, 200 ran). They must agree,
including for the spellings that try to slip past a require-approval rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.admin_api import Api, Member
from tests.support.upstream import Upstream

POLICY = {
    "auto_approve_methods": ["GET"],
    "require_approval_methods": ["POST"],
    "auto_approve_urls": ["/v1/search"],
    "require_approval_urls": ["/v1/admin"],
}


async def _team(api: Api, upstream: Upstream) -> tuple[Member, str]:
    owner = await api.signup("acme", "ann@example.com")
    made = await api.call(
        "POST",
        "/team/credentials",
        owner.token,
        json={
            "name": "demo",
            "allowed_hosts": ["127.0.0.1"],
            "value": "sk_demo_value_0123",
            "auth_header_format": "Bearer {value}",
        },
    )
    assert made.status == 201, made.body
    policy = await api.call("PUT", "/team/policies/demo", owner.token, json=POLICY)
    assert policy.status == 200, policy.body
    agent = await api.call(
        "POST", "/team/agents", owner.token, json={"id": "bot", "credentials": ["demo"]}
    )
    assert agent.status == 201, agent.body
    return owner, agent.body["api_key"]


async def _test(api: Api, owner: Member, method: str, target: str) -> Any:
    reply = await api.call(
        "POST", "/team/policies/demo/test", owner.token, json={"method": method, "target": target}
    )
    assert reply.status == 200, reply.body
    return reply.body


async def _forward_status(api: Api, key: str, method: str, target: str) -> int:
    reply = await api.call(
        "POST",
        "/forward",
        headers={
            "X-TAP-Key": key,
            "X-TAP-Credential": "demo",
            "X-TAP-Target": target,
            "X-TAP-Method": method,
        },
    )
    return reply.status


@pytest.mark.parametrize(
    ("method", "path", "outcome", "reason", "matched"),
    [
        # method rules
        ("GET", "/v1/items", "runs_at_once", "auto_approve_method", "GET"),
        ("HEAD", "/v1/items", "runs_at_once", "auto_approve_method", "GET"),
        ("POST", "/v1/items", "waits_for_human", "require_approval_method", "POST"),
        ("DELETE", "/v1/items", "waits_for_human", "require_approval_default", None),
        # URL rules beat method rules
        ("POST", "/v1/search/deep", "runs_at_once", "auto_approve_url", "/v1/search"),
        ("GET", "/v1/admin/users", "waits_for_human", "require_approval_url", "/v1/admin"),
        # spellings that try to dodge the require-approval rule
        ("GET", "/v1/%61dmin", "waits_for_human", "require_approval_url", "/v1/admin"),
        ("GET", "/v1/ADMIN;x=1/users", "waits_for_human", "require_approval_url", "/v1/admin"),
        # a dot-segment path is refused before the policy, by both
        ("GET", "/v1/search/../admin", "refused", "invalid_target", None),
    ],
)
async def test_the_tester_and_forward_agree(
    api: Api,
    upstream: Upstream,
    method: str,
    path: str,
    outcome: str,
    reason: str,
    matched: str | None,
) -> None:
    owner, key = await _team(api, upstream)
    target = upstream.url + path
    answer = await _test(api, owner, method, target)
    assert (answer["outcome"], answer["reason"], answer["matched"]) == (outcome, reason, matched)
    assert answer["rule"]
    status = await _forward_status(api, key, method, target)
    assert status == {"waits_for_human": 202, "runs_at_once": 200, "refused": 400}[outcome], status


async def test_a_request_forward_would_refuse_is_reported_as_refused(
    api: Api, upstream: Upstream
) -> None:
    owner, _ = await _team(api, upstream)
    elsewhere = await _test(api, owner, "GET", "https://evil.example.net/v1/items")
    assert elsewhere["outcome"] == "refused" and elsewhere["reason"] == "host_not_allowed"
    relative = await _test(api, owner, "GET", "/v1/items")
    assert relative["outcome"] == "refused" and relative["reason"] == "invalid_target"
    method = await _test(api, owner, "GE T", upstream.url + "/v1/items")
    assert method["outcome"] == "refused" and method["reason"] == "invalid_method"


async def test_without_a_policy_the_team_mode_decides(api: Api, upstream: Upstream) -> None:
    owner, _ = await _team(api, upstream)
    cleared = await api.call("DELETE", "/team/policies/demo", owner.token)
    assert cleared.status == 200, cleared.body
    mode = await api.call(
        "PUT", "/team/settings", owner.token, json={"default_approval_mode": "gated"}
    )
    assert mode.status == 200, mode.body
    write = await _test(api, owner, "POST", upstream.url + "/v1/items")
    assert (write["outcome"], write["reason"], write["policy_present"]) == (
        "waits_for_human",
        "team_gated_default_unsafe_method",
        False,
    )


async def test_the_tester_is_for_managers_of_this_team_only(api: Api, upstream: Upstream) -> None:
    owner, _ = await _team(api, upstream)
    bob = await api.invite(owner, "bob@example.com", role="approver")
    body = {"method": "GET", "target": upstream.url + "/v1/items"}
    approver = await api.call("POST", "/team/policies/demo/test", bob.token, json=body)
    assert approver.status == 403, approver.body
    eve = await api.signup("evil", "eve@example.com")
    other = await api.call("POST", "/team/policies/demo/test", eve.token, json=body)
    assert other.status == 404, other.body
    bad = await api.call("POST", "/team/policies/demo/test", owner.token, json={"method": "GET"})
    assert bad.status == 400 and bad.body["error"] == "invalid_input", bad.body
