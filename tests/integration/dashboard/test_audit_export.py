"""``GET /team/audit/export``: the team's audit as JSONL or CSV, with the audit page's filters.

The CSV is opened in spreadsheets, and agents choose what ends up in its
cells: a formula an agent sends stays text.
"""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from app.admin.audit_export import CSV_COLUMNS
from tests.support.admin_api import Api, Member
from tests.support.upstream import Upstream

FORMULA = "=SUM(A1:A9)*2"


async def _team(api: Api, team: str, email: str) -> tuple[Member, str]:
    owner = await api.signup(team, email)
    made = await api.call(
        "POST",
        "/team/credentials",
        owner.token,
        json={"name": "demo", "allowed_hosts": ["127.0.0.1"], "value": "sk_export_value_987"},
    )
    assert made.status == 201, made.body
    mode = await api.call(
        "PUT", "/team/settings", owner.token, json={"default_approval_mode": "autonomous"}
    )
    assert mode.status == 200, mode.body
    agent = await api.call(
        "POST", "/team/agents", owner.token, json={"id": "bot", "credentials": ["demo"]}
    )
    assert agent.status == 201, agent.body
    return owner, agent.body["api_key"]


async def _forward(api: Api, key: str, target: str, body: str = "", **headers: str) -> int:
    reply = await api.call(
        "POST",
        "/forward",
        headers={
            "X-TAP-Key": key,
            "X-TAP-Credential": "demo",
            "X-TAP-Target": target,
            "X-TAP-Method": "POST" if body else "GET",
            **headers,
        },
        json=json.loads(body) if body else None,
    )
    return reply.status


async def _entries(api: Api, owner: Member, count: int) -> list[dict[str, Any]]:
    """The team's audit page once it holds ``count`` entries (records are written in batches)."""
    deadline = time.monotonic() + 15
    while True:
        page = await api.call("GET", "/team/audit?limit=200", owner.token)
        assert page.status == 200, page.body
        if len(page.body["entries"]) >= count or time.monotonic() > deadline:
            return page.body["entries"]  # type: ignore[no-any-return]
        time.sleep(0.05)


async def test_jsonl_export_holds_the_same_entries_as_the_audit_page(
    api: Api, upstream: Upstream
) -> None:
    owner, key = await _team(api, "acme", "ann@example.com")
    assert await _forward(api, key, upstream.url + "/v1/a") == 200
    assert await _forward(api, key, "https://elsewhere.example.net/v1/b") == 403
    entries = await _entries(api, owner, 2)
    exported = await api.call("GET", "/team/audit/export?format=jsonl", owner.token)
    assert exported.status == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in exported.headers["content-disposition"]
    lines = (
        [json.loads(line) for line in exported.body.splitlines()]
        if isinstance(exported.body, str)
        else [exported.body]
    )
    assert lines == entries

    only = await api.call("GET", "/team/audit/export?format=jsonl&outcome=forwarded", owner.token)
    rows = (
        [json.loads(line) for line in str(only.body).splitlines()]
        if isinstance(only.body, str)
        else [only.body]
    )
    assert [r["outcome"] for r in rows] == ["forwarded"]
    assert "sk_export_value_987" not in str(exported.body)


async def test_csv_export_keeps_an_agents_formula_as_text(api: Api, upstream: Upstream) -> None:
    owner, key = await _team(api, "acme", "ann@example.com")
    sent = await api.client.open(
        "/forward",
        method="POST",
        headers={
            "X-TAP-Key": key,
            "X-TAP-Credential": "demo",
            "X-TAP-Target": upstream.url + "/v1/a",
            "X-TAP-Method": "POST",
            "Content-Type": "text/plain",
        },
        data=FORMULA.encode(),
    )
    assert sent.status_code == 200
    await _entries(api, owner, 1)
    exported = await api.call("GET", "/team/audit/export?format=csv", owner.token)
    assert exported.status == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(str(exported.body))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2
    assert rows[1][CSV_COLUMNS.index("request_body")] == "'" + FORMULA
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells


async def test_the_export_is_for_managers_and_one_team(api: Api, upstream: Upstream) -> None:
    owner, key = await _team(api, "acme", "ann@example.com")
    assert await _forward(api, key, upstream.url + "/v1/a") == 200
    await _entries(api, owner, 1)
    bob = await api.invite(owner, "bob@example.com", role="approver")
    refused = await api.call("GET", "/team/audit/export", bob.token)
    assert refused.status == 403, refused.body
    eve, _ = await _team(api, "evil", "eve@example.com")
    theirs = await api.call("GET", "/team/audit/export?format=csv", eve.token)
    assert theirs.status == 200 and len(list(csv.reader(io.StringIO(str(theirs.body))))) == 1
    bad = await api.call("GET", "/team/audit/export?format=xlsx", owner.token)
    assert bad.status == 400 and bad.body["error"] == "invalid_input", bad.body
