"""Approvals: durable, owned by one agent, forwarded exactly once, closed on timeout."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path

import asyncpg
import pytest

from app.approvals import decisions
from app.store import approvals
from tests.support.tap import Tap, start_tap
from tests.support.upstream import Upstream
from tests.support.waiting import wait_for

SECRET = "sk-approval-secret-0123456789"


@pytest.fixture
def setup(tap: Tap) -> tuple[str, str]:
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    return tap.agent("alice", "--credentials", "demo"), tap.agent(
        "mallory", "--credentials", "demo"
    )


def test_another_agent_cannot_poll_your_transaction(
    tap: Tap, setup: tuple[str, str], upstream: Upstream
) -> None:
    alice, mallory = setup
    parked = tap.forward(alice, "demo", upstream.url, method="POST").json()
    assert tap.get(parked["poll_url"], mallory).status_code == 403
    assert tap.get(parked["poll_url"], alice).json()["status"] == "pending"
    assert tap.get(f"/agent/approvals/{uuid.uuid4()}", alice).status_code == 404
    assert tap.get("/agent/approvals/not-a-uuid", alice).status_code == 404


def test_concurrent_approvals_forward_once(
    tap: Tap, setup: tuple[str, str], upstream: Upstream
) -> None:
    alice, _ = setup
    parked = tap.forward(alice, "demo", upstream.url + "/once", method="POST", content=b"x").json()
    txn_id = uuid.UUID(parked["txn_id"])
    outcomes: list[str] = []

    async def approve(voter: str) -> None:
        conn = await asyncpg.connect(tap.database_url)
        try:
            async with conn.transaction():
                result = await decisions.vote(
                    conn,
                    team_id="default",
                    txn_id=txn_id,
                    voter=voter,
                    decision="approve",
                    via="cli",
                )
                outcomes.append(result.status)
        except decisions.AlreadyDecided:
            outcomes.append("already")
        finally:
            await conn.close()

    async def race() -> None:
        await asyncio.gather(*(approve(f"op{i}") for i in range(5)))

    asyncio.run(race())
    assert sorted(outcomes) == ["already"] * 4 + ["approved"]
    final = tap.poll(alice, parked["poll_url"], {"forwarded", "error"})
    assert final["status"] == "forwarded"
    tap.sweep_executor()  # another sweep later, still one upstream call
    assert [r.path for r in upstream.received] == ["/once"]


def test_two_replicas_forward_an_approval_once(
    tmp_path: Path, database_url: str, upstream: Upstream
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_tap(tmp_path / "a", database_url)
    second = start_tap(tmp_path / "b", database_url)
    try:
        first.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
        key = first.agent("bot", "--credentials", "demo")
        txns = [
            first.forward(key, "demo", upstream.url + f"/r{i}", method="POST").json()["txn_id"]
            for i in range(5)
        ]
        for txn in txns:
            first.ok("approve", txn)
        for txn in txns:
            assert (
                second.poll(key, f"/agent/approvals/{txn}", {"forwarded"})["status"] == "forwarded"
            )
        first.sweep_executor()
        assert sorted(r.path for r in upstream.received) == sorted(f"/r{i}" for i in range(5))
    finally:
        first.proxy.stop()
        second.proxy.stop()


def test_unanswered_approval_times_out(
    tmp_path: Path, database_url: str, upstream: Upstream
) -> None:
    tap = start_tap(tmp_path, database_url, TAP_APPROVAL_TIMEOUT_SECS="1")
    try:
        tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
        key = tap.agent("bot", "--credentials", "demo")
        parked = tap.forward(key, "demo", upstream.url, method="PUT").json()
        assert parked["expires_in"] == 1
        assert tap.poll(key, parked["poll_url"], {"timed_out"})["status"] == "timed_out"
        late = tap.cli("approve", parked["txn_id"])
        assert late.exit_code == 1
        assert upstream.received == []
        logs = tap.logs(key, at_least=1)["entries"]
        assert logs[0]["outcome"] == "timed_out" and logs[0]["approval_status"] == "timeout"
    finally:
        tap.proxy.stop()


def test_stored_response_is_deleted_after_delivery(
    tap: Tap, setup: tuple[str, str], upstream: Upstream
) -> None:
    alice, _ = setup
    parked = tap.forward(alice, "demo", upstream.url, method="POST").json()
    tap.ok("approve", parked["txn_id"])
    first = tap.poll(alice, parked["poll_url"], {"forwarded"})
    assert first["response"]["complete"] is True and first["response"]["body"]
    second = tap.get(parked["poll_url"], alice).json()
    assert second["status"] == "forwarded" and second["response"]["complete"] is False
    assert "body" not in second["response"]


def test_revoked_access_while_waiting_is_not_forwarded(
    tap: Tap, setup: tuple[str, str], upstream: Upstream
) -> None:
    alice, _ = setup
    parked = tap.forward(alice, "demo", upstream.url, method="POST").json()
    tap.ok("agent", "disable", "alice")
    tap.ok("approve", parked["txn_id"])
    # NOTE: the access check runs when the approved request is forwarded: the agent (which
    # cannot poll while disabled) is enabled again only once the audit says how that ended.
    audit = tap.tmp / "audit.jsonl"

    def ended() -> list[str]:
        lines = audit.read_text().splitlines() if audit.exists() else []
        entries = [json.loads(line) for line in lines]
        return [e["outcome"] for e in entries if e["request_id"] == parked["txn_id"]]

    assert wait_for(ended, bool, timeout=30) == ["error"]
    tap.ok("agent", "enable", "alice")
    final = tap.poll(alice, parked["poll_url"], {"error", "forwarded"})
    assert final["status"] == "error"
    assert upstream.received == []
    assert SECRET not in json.dumps(final)


def test_policy_urls_and_methods(tap: Tap, upstream: Upstream) -> None:
    tap.add_credential("api", SECRET, "--allowed-host", "127.0.0.1")
    key = tap.agent("bot", "--credentials", "api")
    tap.ok(
        "policy",
        "set",
        "api",
        "--auto-approve-methods",
        "GET,POST",
        "--require-approval-urls",
        "/admin",
        "--auto-approve-urls",
        "/v1/*/search",
    )
    assert tap.forward(key, "api", upstream.url + "/v1/items", method="POST").status_code == 200
    assert tap.forward(key, "api", upstream.url + "/admin/users", method="GET").status_code == 202
    assert (
        tap.forward(key, "api", upstream.url + "/v1/x/search", method="DELETE").status_code == 200
    )
    assert tap.forward(key, "api", upstream.url + "/v1/x", method="DELETE").status_code == 202
    assert tap.forward(key, "api", upstream.url + "/v1/x", method="HEAD").status_code == 200
    assert tap.forward(key, "api", upstream.url + "/v1/x", method="PURGE").status_code == 202


def test_approved_unified_request_keeps_the_secret_out_of_agent_headers(
    tap: Tap, setup: tuple[str, str], upstream: Upstream
) -> None:
    """A unified-mode write naming the credential in a header of its choosing is
    forwarded after approval exactly as without approval: the secret only in the
    credential's own header, the agent's text left literal."""
    alice, _ = setup
    parked = tap.forward(
        alice,
        "demo",
        upstream.url + "/leak",
        method="POST",
        headers={"X-Leak": "<CREDENTIAL:demo>", "X-Leak-Field": "<CREDENTIAL:demo.token>"},
        content=b"{}",
    )
    assert parked.status_code == 202, parked.text
    tap.ok("approve", parked.json()["txn_id"])
    final = tap.poll(alice, parked.json()["poll_url"], {"forwarded", "error"})
    assert final["status"] == "forwarded", final
    (received,) = upstream.received
    assert received.headers["Authorization"] == f"Bearer {SECRET}"
    assert received.headers["X-Leak"] == "<CREDENTIAL:demo>"
    leaked = {k: v for k, v in received.headers.items() if SECRET in v}
    assert list(leaked) == ["Authorization"]


def test_placeholder_positions_are_checked_again_after_approval(
    tap: Tap, setup: tuple[str, str], upstream: Upstream
) -> None:
    """A parked placeholder-mode row with a reference outside an auth header (one
    parked before the rules, or by any other path) is refused, never substituted."""
    alice, _ = setup
    txn = uuid.uuid4()

    async def park() -> None:
        conn = await asyncpg.connect(tap.database_url)
        try:
            await approvals.create(
                conn,
                approvals.NewRequest(
                    txn_id=txn,
                    team_id="default",
                    agent_id="alice",
                    mode="placeholder",
                    credential_names=("demo",),
                    injected_headers=(),
                    method="POST",
                    target_url=upstream.url + "/smuggled",
                    headers=[("X-Leak", "<CREDENTIAL:demo>")],
                    body=b"",
                    policy_reason="test",
                    require_passkey=False,
                    min_approvals=1,
                    allowed_approvers=(),
                    auth_mode="auto",
                    timeout_secs=60,
                ),
                approvals.PendingCaps(per_agent=10, per_team=10, bytes_per_team=10**6),
            )
        finally:
            await conn.close()

    asyncio.run(park())
    tap.ok("approve", str(txn))
    final = tap.poll(alice, f"/agent/approvals/{txn}", {"forwarded", "error"})
    assert final["status"] == "error", final
    assert "X-Leak" in final["error_detail"]
    assert SECRET not in json.dumps(final)
    tap.sweep_executor()
    assert upstream.received == []


def test_poll_and_audit_carry_what_was_decided(
    tap: Tap, setup: tuple[str, str], upstream: Upstream
) -> None:
    alice, _ = setup
    body = b"\xff\x00binary payload"
    parked = tap.forward(alice, "demo", upstream.url, method="POST", content=body).json()
    pending = tap.get(parked["poll_url"], alice).json()
    assert pending["body_size"] == len(body)
    assert pending["body_sha256"] == hashlib.sha256(body).hexdigest()
    tap.ok("approve", parked["txn_id"])
    assert tap.poll(alice, parked["poll_url"], {"forwarded"})["status"] == "forwarded"
    assert upstream.received[0].body == body
    (entry,) = tap.logs(alice, at_least=1)["entries"]
    assert entry["approval_status"] == "approved"
    assert isinstance(entry["approval_latency_ms"], int) and entry["approval_latency_ms"] >= 0


def test_a_body_changed_after_parking_is_not_forwarded(
    tap: Tap, setup: tuple[str, str], upstream: Upstream
) -> None:
    alice, _ = setup
    parked = tap.forward(alice, "demo", upstream.url, method="POST", content=b"pay 1").json()

    async def tamper() -> None:
        conn = await asyncpg.connect(tap.database_url)
        try:
            await conn.execute("UPDATE approval_bodies SET body = 'pay 1000000'")
        finally:
            await conn.close()

    asyncio.run(tamper())
    tap.ok("approve", parked["txn_id"])
    final = tap.poll(alice, parked["poll_url"], {"forwarded", "error"})
    assert final["status"] == "error"
    assert upstream.received == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"note": "a\x00b"}',
        b"\xff\xfe binary \x00 bytes",
        "zero-width \u200b and bidi \u202e".encode(),
    ],
)
def test_any_body_bytes_park_and_forward_unchanged(
    tap: Tap, setup: tuple[str, str], upstream: Upstream, body: bytes
) -> None:
    alice, _ = setup
    parked = tap.forward(alice, "demo", upstream.url + "/bytes", method="POST", content=body)
    assert parked.status_code == 202, parked.text
    tap.ok("approve", parked.json()["txn_id"])
    assert tap.poll(alice, parked.json()["poll_url"], {"forwarded"})["status"] == "forwarded"
    assert [r.body for r in upstream.received] == [body]
