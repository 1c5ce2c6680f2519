"""Database outages for audit tests: raw queries, and records caught in flight by an outage."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

import asyncpg

from tests.support.postgres import stop_server
from tests.support.tap import Tap

DEADLINE_SECS: Final = 30


def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


@contextlib.contextmanager
def _audit_table_locked(url: str) -> Iterator[None]:
    """Hold an exclusive lock on ``audit_log`` (inserts wait) until the database stops."""
    locked = threading.Event()
    backend: list[int] = []

    async def hold() -> None:
        conn = await asyncpg.connect(url)
        await conn.execute("BEGIN; LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        backend.append(conn.get_server_pid())
        locked.set()
        with contextlib.suppress(asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
            # Returns when the server shuts down and drops this connection.
            await conn.execute("SELECT pg_sleep(3600)")
        conn.terminate()

    thread = threading.Thread(target=asyncio.run, args=(hold(),), daemon=True)
    thread.start()
    assert locked.wait(DEADLINE_SECS)
    try:
        yield
    finally:
        if thread.is_alive():
            # The test stopped early: let go of the table.
            query(url, "SELECT pg_terminate_backend($1)", backend[0])
        thread.join(DEADLINE_SECS)


def outage_with_records_in_flight(tap: Tap, server: Any, send: Callable[[], None]) -> None:
    """Send while audit inserts wait on a lock, then stop the database under them.

    Requests need the database to be served at all, so the outage starts once
    they are answered: each request queued its record before its answer, and
    no insert can have finished, so every record is in the writer's hands.
    """
    with _audit_table_locked(tap.database_url):
        send()
        stop_server(server)
