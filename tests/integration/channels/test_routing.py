"""What the 202 says about where a request was announced, and delivery across replicas."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import asyncpg

from tests.integration.channels.conftest import Team, build_team, proxy_env, telegram_env
from tests.support.fake_resend import FakeResend
from tests.support.fake_telegram import FakeTelegram
from tests.support.proxy import start_proxy
from tests.support.upstream import Upstream
from tests.support.waiting import wait_for


def outbox(database_url: str, txn: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT kind, channel_name, state FROM channel_outbox WHERE txn_id = $1::uuid", txn
            )
        finally:
            await conn.close()
        return [dict(r) for r in rows]

    return asyncio.run(read())


def test_agent_reflected_tells_the_agent_to_show_the_link(
    tmp_path: Path, database_url: str, resend: FakeResend, upstream: Upstream
) -> None:
    proxy = start_proxy(tmp_path, proxy_env(tmp_path, database_url, resend))
    try:
        team = build_team(proxy, resend, upstream, approval_channel="agent_reflected")
        parked = team.forward()
        assert parked.status_code == 202
        body = parked.json()
        assert body["notification_channel"] == "agent_reflected"
        assert body["approval_policy_channel"] == "agent_reflected"
        assert body["approval_policy_present"] is True
        assert body["approval_url"].endswith(f"/approve/txn/{body['txn_id']}")
        assert "show approval_url to your user" in body["agent_hint"]
        assert "notification_fallback" not in body
        assert outbox(database_url, body["txn_id"]) == []
        # The approve page (and the API behind it) is the decision surface.
        team.api.ok("POST", f"/team/approvals/{body['txn_id']}/deny", team.owner.token)
        assert team.wait_status(body["txn_id"], {"denied"}) == "denied"
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_an_unconfigured_channel_falls_back_to_the_dashboard_and_says_so(
    tmp_path: Path, database_url: str, resend: FakeResend, upstream: Upstream
) -> None:
    proxy = start_proxy(tmp_path, proxy_env(tmp_path, database_url, resend))
    try:
        team = build_team(proxy, resend, upstream, approval_channel="telegram")
        body = team.forward().json()
        assert body["notification_channel"] == "dashboard"
        assert body["notification_fallback"] == {
            "requested": "telegram",
            "reason": "telegram_not_configured",
        }
        pending = team.api.ok("GET", "/team/approvals", team.owner.token)["approvals"]
        assert [p["txn_id"] for p in pending] == [body["txn_id"]]
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_the_team_default_channel_routes_when_the_policy_names_none(tg_team: Team) -> None:
    telegram = tg_team.telegram
    assert telegram is not None
    tg_team.base_policy = {}
    tg_team.policy()
    assert tg_team.forward().json()["notification_channel"] == "dashboard"
    tg_team.api.ok(
        "POST",
        "/team/notification-channels",
        tg_team.owner.token,
        status=201,
        json={"channel_type": "telegram", "name": "ops", "config": {"chat_id": "-3003"}},
    )
    body = tg_team.forward().json()
    assert body["notification_channel"] == "telegram"
    assert body["approval_policy_channel"] is None
    sent = wait_for(
        lambda: [m for m in telegram.of("sendMessage") if body["txn_id"] in str(m)],
        lambda found: len(found) == 1,
        timeout=20,
    )
    assert sent[0]["chat_id"] == "-3003"


def test_two_replicas_deliver_once_and_update_after_a_decision_on_the_other(
    tmp_path: Path,
    database_url: str,
    resend: FakeResend,
    upstream: Upstream,
    telegram: FakeTelegram,
) -> None:
    env = proxy_env(tmp_path, database_url, resend, **telegram_env(telegram))
    first = start_proxy(tmp_path, env, name="replica-a")
    second = start_proxy(tmp_path, env, name="replica-b")
    try:
        team = build_team(first, resend, upstream, approval_channel="telegram")
        txns = [team.park() for _ in range(4)]
        for txn in txns:
            wait_for(
                functools.partial(outbox, database_url, txn),
                lambda rows: [r["state"] for r in rows] == ["delivered"],
                timeout=30,
            )
            about = [m for m in telegram.of("sendMessage") if txn in str(m)]
            assert len(about) == 1, about
        # Decided on the other replica: the message is updated once.
        team.proxy = second
        for txn in txns:
            team.api.ok("POST", f"/team/approvals/{txn}/deny", team.owner.token)
        for txn in txns:
            wait_for(
                functools.partial(outbox, database_url, txn),
                lambda rows: [r["state"] for r in rows] == ["done"],
                timeout=30,
            )
        edits = telegram.of("editMessageText")
        assert len(edits) == len(txns)
        assert all("DENIED by owner@example.com" in e["text"] for e in edits)
        assert upstream.received == []
    finally:
        assert second.stop() == 0, second.log()
        assert first.stop() == 0, first.log()
