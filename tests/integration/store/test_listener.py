"""One LISTEN connection serves every channel, and comes back after it is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg

from app.listener import Listener


async def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)


async def _notify(conn: asyncpg.Connection, channel: str, payload: str) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", channel, payload)


async def test_one_connection_serves_both_channels_and_reconnects(database_url: str) -> None:
    listener = Listener(database_url)
    cache_seen: list[str] = []
    approvals_seen: list[str] = []
    resets: list[str] = []
    await listener.subscribe("tap_cache", cache_seen.append, lambda: resets.append("cache"))
    await listener.start()
    await listener.subscribe(
        "tap_approvals", approvals_seen.append, lambda: resets.append("approvals")
    )
    sender = await asyncpg.connect(database_url)
    try:
        assert listener.connected
        listening = await sender.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        assert listening == 1
        await _notify(sender, "tap_cache", "team-a")
        await _notify(sender, "tap_approvals", "txn-1")
        await _until(lambda: cache_seen == ["team-a"] and approvals_seen == ["txn-1"])

        resets.clear()
        await sender.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        # Both subscribers learn that notifications may have been missed, then it is back.
        await _until(lambda: {"cache", "approvals"} <= set(resets) and listener.connected)

        async def delivered() -> bool:
            await _notify(sender, "tap_approvals", "txn-2")
            await asyncio.sleep(0.05)
            return "txn-2" in approvals_seen

        deadline = time.monotonic() + 10
        while not await delivered():
            assert time.monotonic() < deadline
    finally:
        await sender.close()
        await listener.stop()
