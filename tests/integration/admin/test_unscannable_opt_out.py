"""The per-credential opt-out for unscannable responses over the admin API."""

from __future__ import annotations

from tests.support.admin_api import Api


async def test_allow_unscannable_responses_is_off_by_default_and_can_be_set(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    base = {"description": "d", "allowed_hosts": ["files.example.com"], "value": "sk_0123456789"}
    created = await api.call("POST", "/team/credentials", owner.token, json={"name": "a", **base})
    assert created.status == 201, created.body
    one = await api.call("GET", "/team/credentials/a", owner.token)
    assert one.body["allow_unscannable_responses"] is False

    opted = await api.call(
        "POST",
        "/team/credentials",
        owner.token,
        json={"name": "b", "allow_unscannable_responses": True, **base},
    )
    assert opted.status == 201, opted.body
    one = await api.call("GET", "/team/credentials/b", owner.token)
    assert one.body["allow_unscannable_responses"] is True

    patched = await api.call(
        "PATCH", "/team/credentials/b", owner.token, json={"description": "still on"}
    )
    assert patched.status == 200 and patched.body["allow_unscannable_responses"] is True
    patched = await api.call(
        "PATCH", "/team/credentials/b", owner.token, json={"allow_unscannable_responses": False}
    )
    assert patched.status == 200 and patched.body["allow_unscannable_responses"] is False

    bad = await api.call(
        "PATCH", "/team/credentials/b", owner.token, json={"allow_unscannable_responses": "yes"}
    )
    assert bad.status == 400 and "error" in bad.body
