"""``GET /team/approvals`` says who has already approved a request that needs more than one person."""

from __future__ import annotations

from tests.support.admin_api import Api, park_request


async def test_the_inbox_names_who_already_approved(api: Api, database_url: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    made = await api.call(
        "POST",
        "/team/credentials",
        owner.token,
        json={"name": "demo", "allowed_hosts": ["api.example.com"], "value": "v-0123456789"},
    )
    assert made.status == 201, made.body
    admin = await api.invite(owner, "carl@example.com", role="admin")
    txn = await park_request(database_url, owner.team_id, "demo", min_approvals=2)

    before = await api.call("GET", "/team/approvals", admin.token)
    assert [a["approved_by"] for a in before.body["approvals"]] == [[]]
    vote = await api.call("POST", f"/team/approvals/{txn}/approve", owner.token)
    assert vote.status == 200 and vote.body["status"] == "pending", vote.body
    after = await api.call("GET", "/team/approvals", admin.token)
    (item,) = after.body["approvals"]
    assert item["approved_by"] == ["ann@example.com"] and item["approvals"] == 1

    # Another team sees neither the request nor its voters.
    eve = await api.signup("evil", "eve@example.com")
    theirs = await api.call("GET", "/team/approvals", eve.token)
    assert theirs.body["approvals"] == []
