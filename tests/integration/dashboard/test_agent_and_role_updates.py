"""``PUT /team/agents/{id}`` and ``PUT /team/roles/{name}``: change grants and limits,
never beyond the caller's rights and never in another team."""

from __future__ import annotations

from tests.support.admin_api import Api, Member


async def _credential(api: Api, owner: Member, name: str) -> None:
    made = await api.call(
        "POST",
        "/team/credentials",
        owner.token,
        json={"name": name, "allowed_hosts": ["api.example.com"], "value": f"{name}-value-123"},
    )
    assert made.status == 201, made.body


async def _setup(api: Api) -> Member:
    owner = await api.signup("acme", "ann@example.com")
    for name in ("demo", "other"):
        await _credential(api, owner, name)
    role = await api.call("POST", "/team/roles", owner.token, json={"name": "readers"})
    assert role.status == 201, role.body
    agent = await api.call(
        "POST",
        "/team/agents",
        owner.token,
        json={
            "id": "bot",
            "description": "first",
            "credentials": ["demo"],
            "rate_limit_per_hour": 50,
        },
    )
    assert agent.status == 201, agent.body
    return owner


async def test_put_agent_changes_only_the_fields_sent(api: Api) -> None:
    owner = await _setup(api)
    changed = await api.call(
        "PUT",
        "/team/agents/bot",
        owner.token,
        json={"roles": ["readers"], "credentials": ["other"]},
    )
    assert changed.status == 200, changed.body
    assert changed.body["roles"] == ["readers"]
    assert changed.body["credentials"] == ["other"]
    assert changed.body["description"] == "first"
    assert changed.body["rate_limit_per_hour"] == 50

    cleared = await api.call(
        "PUT", "/team/agents/bot", owner.token, json={"rate_limit_per_hour": None}
    )
    assert cleared.status == 200 and cleared.body["rate_limit_per_hour"] is None
    assert cleared.body["credentials"] == ["other"]


async def test_put_agent_refuses_bad_input_with_a_clear_error(api: Api) -> None:
    owner = await _setup(api)
    unknown = await api.call("PUT", "/team/agents/bot", owner.token, json={"credentials": ["nope"]})
    assert unknown.status == 404 and unknown.body["error"] == "not_found", unknown.body
    bad = await api.call("PUT", "/team/agents/bot", owner.token, json={"rate_limit_per_hour": 0})
    assert bad.status == 400 and bad.body["error"] == "invalid_input", bad.body
    stray = await api.call("PUT", "/team/agents/bot", owner.token, json={"enabled": True})
    assert stray.status == 400 and stray.body["error"] == "invalid_input", stray.body
    # Nothing changed on the way.
    agent = await api.call("GET", "/team/agents/bot", owner.token)
    assert agent.body["credentials"] == ["demo"]


async def test_an_approver_cannot_widen_a_key_after_creating_it(api: Api) -> None:
    owner = await _setup(api)
    bob = await api.invite(owner, "bob@example.com", role="approver")
    assign = await api.call(
        "POST",
        f"/team/members/{bob.user_id}/credentials",
        owner.token,
        json={"credential_name": "demo"},
    )
    assert assign.status in (200, 201), assign.body
    made = await api.call(
        "POST", "/team/agents", bob.token, json={"id": "bobs", "credentials": ["demo"]}
    )
    assert made.status == 201, made.body

    for body in ({"roles": ["readers"]}, {"credentials": ["demo", "other"]}):
        refused = await api.call("PUT", "/team/agents/bobs", bob.token, json=body)
        assert refused.status == 403, (body, refused.body)
    # The owner's key is not theirs to touch at all.
    hidden = await api.call("PUT", "/team/agents/bot", bob.token, json={"description": "mine"})
    assert hidden.status == 404, hidden.body
    allowed = await api.call(
        "PUT",
        "/team/agents/bobs",
        bob.token,
        json={"description": "mine", "rate_limit_per_hour": 5},
    )
    assert allowed.status == 200 and allowed.body["rate_limit_per_hour"] == 5, allowed.body
    agent = await api.call("GET", "/team/agents/bobs", owner.token)
    assert agent.body["credentials"] == ["demo"] and agent.body["roles"] == []


async def test_put_role_replaces_its_credentials_and_limit(api: Api) -> None:
    owner = await _setup(api)
    changed = await api.call(
        "PUT",
        "/team/roles/readers",
        owner.token,
        json={"credentials": ["demo", "other"], "rate_limit_per_hour": 10, "description": "read"},
    )
    assert changed.status == 200, changed.body
    assert changed.body == {
        "name": "readers",
        "description": "read",
        "rate_limit_per_hour": 10,
        "credentials": ["demo", "other"],
    }
    narrowed = await api.call(
        "PUT",
        "/team/roles/readers",
        owner.token,
        json={"credentials": ["other"], "rate_limit_per_hour": None},
    )
    assert (
        narrowed.body["credentials"] == ["other"] and narrowed.body["rate_limit_per_hour"] is None
    )
    assert narrowed.body["description"] == "read"
    unknown = await api.call(
        "PUT", "/team/roles/readers", owner.token, json={"credentials": ["nope"]}
    )
    assert unknown.status == 404, unknown.body
    missing = await api.call("PUT", "/team/roles/ghost", owner.token, json={})
    assert missing.status == 404, missing.body


async def test_updates_never_reach_another_team(api: Api) -> None:
    await _setup(api)
    eve = await api.signup("evil", "eve@example.com")
    await _credential(api, eve, "demo")
    agent = await api.call("PUT", "/team/agents/bot", eve.token, json={"credentials": ["demo"]})
    assert agent.status == 404, agent.body
    role = await api.call("PUT", "/team/roles/readers", eve.token, json={"credentials": ["demo"]})
    assert role.status == 404, role.body


async def test_an_approver_cannot_change_roles(api: Api) -> None:
    owner = await _setup(api)
    bob = await api.invite(owner, "bob@example.com", role="approver")
    refused = await api.call(
        "PUT", "/team/roles/readers", bob.token, json={"credentials": ["demo"]}
    )
    assert refused.status == 403, refused.body
