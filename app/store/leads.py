"""Leads: a job that one worker of all replicas runs at a time, held by a Postgres session lock.

The lock is a session-level advisory lock on a connection the leader keeps
for as long as it leads: it goes when that connection does, so a leader that
dies or loses its database is replaced without anyone cleaning up.
"""

from __future__ import annotations

from app.store.db import Conn


async def try_take(conn: Conn, name: str) -> bool:
    """Take the lead named ``name`` on ``conn`` if no one holds it; True if taken."""
    taken: bool = await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", name)
    return taken


async def give_up(conn: Conn, name: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", name)


async def confirm(conn: Conn) -> None:
    """Raise (StoreError) if the lead's connection, and so the lock, is gone."""
    await conn.execute("SELECT 1")
