"""``GET /team/audit/verify`` and ``GET /audit/public-key`` through the admin API."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.audit_chain import CheckpointPolicy
from app.audit_verify import TrustedKeys, verify_database
from app.crypto import KeyRing
from app.store import audit as audit_store
from tests.support.admin_api import Api, running_api
from tests.support.proxy import TEST_KEY

SIGNER = KeyRing.from_master_key(bytes.fromhex(TEST_KEY)).audit_signer()


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    async with running_api(tmp_path, database_url) as running:
        yield running


async def _audit(database_url: str, team_id: str, count: int) -> None:
    stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows: list[Any] = [
        {
            "request_id": str(uuid.uuid4()),
            "team_id": team_id,
            "agent_id": "bot",
            "credential_names": ["stripe"],
            "outcome": "forwarded",
            "method": "POST",
            "target_url": f"https://api.example/{i}",
            "timestamp": (stamp + dt.timedelta(seconds=i)).isoformat(),
        }
        for i in range(count)
    ]
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        for row in rows:  # one batch each, so checkpoints fall every 3 records
            await audit_store.append(pool, [row], CheckpointPolicy(SIGNER, 3, 3600))
    finally:
        await pool.close()


async def test_a_team_verifies_its_own_chain_and_sees_the_first_break(
    api: Api, database_url: str
) -> None:
    owner = await api.signup("acme", "ann@example.com")
    other = await api.signup("bobs", "bob@example.com")
    await _audit(database_url, owner.team_id, 7)
    await _audit(database_url, other.team_id, 2)

    reply = await api.call("GET", "/team/audit/verify", owner.token)
    assert reply.status == 200, reply.body
    assert reply.body["valid"] is True and reply.body["broken"] is None
    assert (reply.body["records"], reply.body["checkpoints"], reply.body["signed_records"]) == (
        7,
        2,
        6,
    )

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE audit_log SET outcome = 'denied' WHERE team_id = $1 AND chain_seq = 5",
            owner.team_id,
        )
    finally:
        await conn.close()
    reply = await api.call("GET", "/team/audit/verify", owner.token)
    assert reply.status == 200
    assert reply.body["valid"] is False and reply.body["head"] is None
    assert reply.body["broken"]["record"] == 5 and reply.body["broken"]["kind"] == "changed"
    # Another team's chain is its own, and still holds.
    theirs = await api.call("GET", "/team/audit/verify", other.token)
    assert theirs.body["valid"] is True and theirs.body["records"] == 2


async def test_one_verification_of_a_team_runs_at_a_time(api: Api, database_url: str) -> None:
    """Verifying re-hashes the team's whole chain: a caller firing it in parallel would make
    every worker (and replica) hash millions of rows at once, beside the proxy's traffic."""
    owner = await api.signup("acme", "ann@example.com")
    other = await api.signup("bobs", "bob@example.com")
    await _audit(database_url, owner.team_id, 2)
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            # A verification of the team running elsewhere (another worker or replica).
            assert await audit_store.try_lock_verification(conn, owner.team_id)
            busy = await api.call("GET", "/team/audit/verify", owner.token)
            assert busy.status == 429 and busy.body["error"] == "audit_verify_running"
            assert busy.headers["retry-after"] == str(busy.body["retry_after_secs"])
            # Another team's verification is not held up.
            assert (await api.call("GET", "/team/audit/verify", other.token)).status == 200
    finally:
        await conn.close()
    done = await api.call("GET", "/team/audit/verify", owner.token)
    assert done.status == 200 and done.body["valid"] is True


async def test_verification_needs_the_audit_right(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    approver = await api.invite(owner, "al@example.com", role="approver")
    assert (await api.call("GET", "/team/audit/verify")).status == 401
    denied = await api.call("GET", "/team/audit/verify", approver.token)
    assert denied.status == 403 and "error" in denied.body


async def test_the_public_key_is_published_without_a_session(api: Api) -> None:
    reply = await api.call("GET", "/audit/public-key")
    assert reply.status == 200
    assert reply.body == {
        "algorithm": "Ed25519",
        "key_id": SIGNER.key_id,
        "public_key": base64.b64encode(SIGNER.public_key).decode(),
        "trusted_keys": [],
    }


async def test_rows_from_before_the_chain_are_counted_and_the_chain_starts_after_them(
    api: Api, database_url: str
) -> None:
    owner = await api.signup("acme", "ann@example.com")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO audit_log (request_id, team_id, agent_id, outcome)"
            " VALUES (gen_random_uuid(), $1, 'bot', 'forwarded')",
            owner.team_id,
        )
        await _audit(database_url, owner.team_id, 2)
        result = await verify_database(conn, TrustedKeys.of(SIGNER.public_key))
        assert result.unchained == 1 and result.teams[owner.team_id].records == 2
        # A row outside the chain after it started is an insertion.
        await conn.execute(
            "INSERT INTO audit_log (request_id, team_id, agent_id, outcome)"
            " VALUES (gen_random_uuid(), $1, 'bot', 'forwarded')",
            owner.team_id,
        )
    finally:
        await conn.close()
    reply = await api.call("GET", "/team/audit/verify", owner.token)
    assert reply.body["broken"] == {
        "record": 3,
        "kind": "inserted",
        "detail": "a record outside the chain",
    }
