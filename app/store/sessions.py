"""Bearer sessions of the admin API, stored only as keyed hashes of their tokens.

A session names a user, the team it acts in and a scope. :func:`resolve`
joins the membership, so a session stops working the moment its user leaves
(or is removed from) that team, without any cleanup job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

import asyncpg

from app.store.db import Conn, Queryable, translate_errors

Scope = Literal["full", "setup"]
SCOPES: Final[tuple[Scope, ...]] = ("full", "setup")


@dataclass(frozen=True, slots=True)
class SessionView:
    """A live session, joined with its user and membership."""

    token_hash: str
    scope: Scope
    expires_at: dt.datetime
    user_id: str
    email: str
    email_verified: bool
    display_name: str | None
    team_id: str
    team_name: str
    member_role: str


async def create(
    conn: Conn,
    *,
    token_hash: str,
    user_id: str,
    team_id: str,
    scope: Scope,
    ttl: dt.timedelta,
) -> dt.datetime:
    """Store a session; returns its expiry."""
    expires_at: dt.datetime = await conn.fetchval(
        "INSERT INTO sessions (token_hash, user_id, team_id, scope, expires_at) VALUES ($1, $2, $3, $4, now() + $5)"
        " RETURNING expires_at",
        token_hash,
        user_id,
        team_id,
        scope,
        ttl,
    )
    return expires_at


async def resolve(conn: Queryable, token_hash: str) -> SessionView | None:
    """The live session with this hash, or None (unknown, expired, or no longer a member).

    Raises DatabaseUnavailable or StoreError.
    """
    with translate_errors():
        row = await _resolve(conn, token_hash)
    if row is None:
        return None
    return SessionView(
        token_hash=row["token_hash"],
        scope=row["scope"],
        expires_at=row["expires_at"],
        user_id=row["user_id"],
        email=row["email"],
        email_verified=row["email_verified"],
        display_name=row["display_name"],
        team_id=row["team_id"],
        team_name=row["team_name"],
        member_role=row["member_role"],
    )


async def _resolve(conn: Queryable, token_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT s.token_hash, s.scope, s.expires_at, u.id AS user_id, u.email, u.email_verified, u.display_name,
               t.id AS team_id, t.name AS team_name, m.member_role
          FROM sessions s
          JOIN users u ON u.id = s.user_id
          JOIN memberships m ON m.user_id = s.user_id AND m.team_id = s.team_id
          JOIN teams t ON t.id = s.team_id
         WHERE s.token_hash = $1 AND s.expires_at > now()
        """,
        token_hash,
    )


async def delete(conn: Queryable, token_hash: str) -> bool:
    """End the session; False if there was none. Raises DatabaseUnavailable or StoreError."""
    with translate_errors():
        status: str = await conn.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)
    return status != "DELETE 0"


async def delete_for_user(conn: Conn, user_id: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)


async def delete_for_member(conn: Conn, user_id: str, team_id: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE user_id = $1 AND team_id = $2", user_id, team_id)


async def switch_team(conn: Conn, token_hash: str, team_id: str) -> None:
    await conn.execute(
        "UPDATE sessions SET team_id = $2 WHERE token_hash = $1", token_hash, team_id
    )


async def purge_expired(conn: Queryable) -> None:
    await conn.execute("DELETE FROM sessions WHERE expires_at <= now()")
