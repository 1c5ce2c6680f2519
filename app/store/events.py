"""Change notifications between replicas, over Postgres ``LISTEN/NOTIFY``.

Any write that changes what the proxy caches (an agent's key or state, a
credential, a role, a policy, a team's mode) calls :func:`team_changed` in its
transaction. Postgres delivers the notification at commit, to every replica,
and each drops its cached entries for that team.
"""

from __future__ import annotations

from typing import Final

from app.store.db import Conn

CACHE_CHANNEL: Final = "tap_cache"


async def team_changed(conn: Conn, team_id: str) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", CACHE_CHANNEL, team_id)
