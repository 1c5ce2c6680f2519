"""Verified chat identities of people, and the single-use codes that create them.

A link is written only by :func:`take_code` + :func:`link` in one
transaction, after the chat account sent the code its person asked for; the
code is stored as its SHA-256, so a database reader cannot redeem one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Final

import asyncpg

from app.errors import NotFound
from app.store.db import Conn

_COLUMNS: Final = "id, user_id, kind, external_id, display, created_at"


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    user_id: str
    kind: str
    external_id: str
    display: str | None
    created_at: dt.datetime


def _identity(row: asyncpg.Record) -> Identity:
    return Identity(
        id=row["id"],
        user_id=row["user_id"],
        kind=row["kind"],
        external_id=row["external_id"],
        display=row["display"],
        created_at=row["created_at"],
    )


async def add_code(
    conn: Conn, *, user_id: str, kind: str, code_hash: str, ttl: dt.timedelta
) -> dt.datetime:
    """Store a new link code, replacing the user's earlier unused ones for ``kind``; its expiry."""
    await conn.execute(
        "DELETE FROM identity_link_codes WHERE (user_id = $1 AND kind = $2) OR expires_at < now()",
        user_id,
        kind,
    )
    expires: dt.datetime = await conn.fetchval(
        "INSERT INTO identity_link_codes (code_hash, user_id, kind, expires_at)"
        " VALUES ($1, $2, $3, now() + $4) RETURNING expires_at",
        code_hash,
        user_id,
        kind,
        ttl,
    )
    return expires


async def take_code(conn: Conn, *, kind: str, code_hash: str) -> str | None:
    """Consume a live code for ``kind``; the user it belongs to, or None (unknown, used, expired)."""
    user_id: str | None = await conn.fetchval(
        "DELETE FROM identity_link_codes WHERE code_hash = $1 AND kind = $2"
        " RETURNING CASE WHEN expires_at > now() THEN user_id END",
        code_hash,
        kind,
    )
    return user_id


async def link(
    conn: Conn, *, user_id: str, kind: str, external_id: str, display: str | None
) -> Identity:
    """Link the chat account to ``user_id``; an account that proved itself again moves to them."""
    row = await conn.fetchrow(
        "INSERT INTO user_identities (id, user_id, kind, external_id, display)"
        " VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (kind, external_id) DO UPDATE SET user_id = EXCLUDED.user_id,"
        " display = EXCLUDED.display, created_at = now()"
        f" RETURNING {_COLUMNS}",
        f"id_{uuid.uuid4().hex}",
        user_id,
        kind,
        external_id,
        display,
    )
    assert row is not None
    return _identity(row)


async def list_for_user(conn: Conn, user_id: str) -> list[Identity]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM user_identities WHERE user_id = $1 ORDER BY created_at, id",
        user_id,
    )
    return [_identity(row) for row in rows]


async def delete(conn: Conn, user_id: str, identity_id: str) -> None:
    """Raises NotFound unless ``user_id`` holds that link."""
    status = await conn.execute(
        "DELETE FROM user_identities WHERE user_id = $1 AND id = $2", user_id, identity_id
    )
    if status == "DELETE 0":
        raise NotFound("no such linked identity")


async def user_for(conn: Conn, kind: str, external_id: str) -> str | None:
    """The person a chat account is linked to, or None."""
    user_id: str | None = await conn.fetchval(
        "SELECT user_id FROM user_identities WHERE kind = $1 AND external_id = $2",
        kind,
        external_id,
    )
    return user_id
