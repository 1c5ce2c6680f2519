"""Fixed-window failure counters that bound brute force across every replica.

A key names what is counted (``login-account:<email>``, ``login-ip:<addr>``,
...). :func:`blocked` answers before the guarded check runs; :func:`record`
counts one failure. Windows are aligned to multiples of their length, so
every replica agrees on which window a failure belongs to.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.store.db import Queryable


@dataclass(frozen=True, slots=True)
class Bound:
    """At most ``limit`` failures per ``window`` for one key."""

    limit: int
    window: dt.timedelta

    @property
    def window_secs(self) -> int:
        return int(self.window.total_seconds())


_WINDOW_START = "to_timestamp(floor(extract(epoch FROM now()) / $2) * $2)"


async def blocked(conn: Queryable, key: str, bound: Bound) -> int | None:
    """Seconds until the key may try again, or None when it is under its bound."""
    row = await conn.fetchrow(
        f"SELECT count, ceil(extract(epoch FROM window_start + make_interval(secs => $2) - now()))::integer AS left"
        f" FROM auth_throttle WHERE key = $1 AND window_start = {_WINDOW_START}",
        key,
        bound.window_secs,
    )
    if row is None or row["count"] < bound.limit:
        return None
    left: int = row["left"]
    return max(1, left)


async def record(conn: Queryable, key: str, bound: Bound) -> None:
    """Count one failure for ``key`` in the current window (and drop stale windows)."""
    await conn.execute(
        f"INSERT INTO auth_throttle (key, window_start, count) VALUES ($1, {_WINDOW_START}, 1)"
        " ON CONFLICT (key, window_start) DO UPDATE SET count = auth_throttle.count + 1",
        key,
        bound.window_secs,
    )
    await conn.execute(
        f"DELETE FROM auth_throttle WHERE key = $1 AND window_start < {_WINDOW_START}",
        key,
        bound.window_secs,
    )


async def clear(conn: Queryable, key: str) -> None:
    await conn.execute("DELETE FROM auth_throttle WHERE key = $1", key)
