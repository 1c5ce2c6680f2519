"""Parked requests are bounded: per agent, per team, in bytes; identical bodies stored once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support.tap import Tap, start_tap
from tests.support.upstream import Upstream

SECRET = "sk-cap-secret-0123456789"


@pytest.fixture
def capped(tmp_path: Path, database_url: str) -> Iterator[Tap]:
    running = start_tap(
        tmp_path,
        database_url,
        TAP_MAX_PENDING_PER_AGENT="3",
        TAP_MAX_PENDING_PER_TEAM="5",
        TAP_MAX_PENDING_BYTES_PER_TEAM="3000",
    )
    running.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    yield running
    assert running.proxy.stop() == 0, running.proxy.log()


async def _fetchval(database_url: str, query: str) -> object:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


def test_caps_per_agent_and_per_team(capped: Tap, upstream: Upstream) -> None:
    alice = capped.agent("alice", "--credentials", "demo")
    bob = capped.agent("bob", "--credentials", "demo")
    parked = [capped.forward(alice, "demo", upstream.url, method="POST") for _ in range(3)]
    assert [p.status_code for p in parked] == [202] * 3
    refused = capped.forward(alice, "demo", upstream.url, method="POST")
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "too_many_pending_approvals" and body["cap"] == "agent"
    assert body["limit"] == 3 and body["safe_to_retry"] is True
    for _ in range(2):
        assert capped.forward(bob, "demo", upstream.url, method="POST").status_code == 202
    team = capped.forward(bob, "demo", upstream.url, method="POST")
    assert team.status_code == 429 and team.json()["cap"] == "team"
    # Reads that need no approval still flow.
    assert capped.forward(bob, "demo", upstream.url).status_code == 200
    # A decision frees a place.
    capped.ok("deny", parked[0].json()["txn_id"])
    assert capped.forward(bob, "demo", upstream.url, method="POST").status_code == 202
    assert upstream.received and all(r.method == "GET" for r in upstream.received)


def test_concurrent_parks_never_overshoot(capped: Tap, upstream: Upstream) -> None:
    alice = capped.agent("alice", "--credentials", "demo")

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            replies = await asyncio.gather(
                *(
                    client.post(
                        capped.url + "/forward",
                        headers={
                            "X-TAP-Key": alice,
                            "X-TAP-Credential": "demo",
                            "X-TAP-Target": upstream.url,
                            "X-TAP-Method": "POST",
                        },
                        content=f"request {i}".encode(),
                    )
                    for i in range(20)
                )
            )
        return sorted(r.status_code for r in replies)

    assert asyncio.run(burst()) == [202] * 3 + [429] * 17
    count = asyncio.run(_fetchval(capped.database_url, "SELECT count(*) FROM approvals"))
    assert count == 3


def test_bytes_cap_and_bodies_stored_once(capped: Tap, upstream: Upstream) -> None:
    alice = capped.agent("alice", "--credentials", "demo")
    bob = capped.agent("bob", "--credentials", "demo")
    same = b"x" * 2000
    for key in (alice, alice, bob):
        assert (
            capped.forward(key, "demo", upstream.url, method="PUT", content=same).status_code == 202
        )
    stored = asyncio.run(
        _fetchval(capped.database_url, "SELECT count(*) FROM approval_bodies WHERE size = 2000")
    )
    assert stored == 1, "one copy of a body however many requests carry it"
    other = capped.forward(bob, "demo", upstream.url, method="PUT", content=b"y" * 2000)
    assert other.status_code == 429 and other.json()["cap"] == "team_bytes"
    small = capped.forward(bob, "demo", upstream.url, method="PUT", content=b"y" * 900)
    assert small.status_code == 202
