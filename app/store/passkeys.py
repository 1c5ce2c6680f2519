"""Members' passkeys (WebAuthn credentials) and their sign counters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import asyncpg

from app.errors import AlreadyExists
from app.store.db import Conn, Queryable


@dataclass(frozen=True, slots=True)
class Passkey:
    id: str
    """The credential id, base64url without padding."""
    user_id: str
    public_key: bytes
    """The COSE public key the authenticator registered."""
    sign_count: int
    display_name: str
    transports: tuple[str, ...]
    created_at: dt.datetime
    last_used_at: dt.datetime | None


_COLUMNS: Final = (
    "id, user_id, public_key, sign_count, display_name, transports, created_at, last_used_at"
)


def _passkey(row: asyncpg.Record) -> Passkey:
    return Passkey(
        id=row["id"],
        user_id=row["user_id"],
        public_key=bytes(row["public_key"]),
        sign_count=row["sign_count"],
        display_name=row["display_name"],
        transports=tuple(row["transports"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
    )


async def add(
    conn: Conn,
    *,
    credential_id: str,
    user_id: str,
    public_key: bytes,
    sign_count: int,
    display_name: str,
    transports: tuple[str, ...],
) -> Passkey:
    """Store a newly registered passkey. Raises AlreadyExists if the id is registered."""
    try:
        row = await conn.fetchrow(
            f"INSERT INTO webauthn_credentials (id, user_id, public_key, sign_count, display_name, transports)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
            credential_id,
            user_id,
            public_key,
            sign_count,
            display_name,
            list(transports),
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists("this passkey is already registered") from None
    assert row is not None
    return _passkey(row)


async def of_user(conn: Queryable, user_id: str) -> list[Passkey]:
    """A user's passkeys, oldest first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id",
        user_id,
    )
    return [_passkey(row) for row in rows]


async def count(conn: Queryable, user_id: str) -> int:
    value: int = await conn.fetchval(
        "SELECT count(*) FROM webauthn_credentials WHERE user_id = $1", user_id
    )
    return value


async def use(conn: Conn, credential_id: str, *, seen: int, new_count: int) -> bool:
    """Record a successful assertion. False if the counter moved meanwhile (a replay or race).

    NOTE: conditional on the counter the verification ran against, so two
    assertions checked concurrently against the same stored count cannot both
    be accepted.
    """
    changed = await conn.fetchval(
        "UPDATE webauthn_credentials SET sign_count = $3, last_used_at = now()"
        " WHERE id = $1 AND sign_count = $2 RETURNING id",
        credential_id,
        seen,
        new_count,
    )
    return changed is not None


async def delete(conn: Conn, user_id: str, credential_id: str) -> bool:
    """Remove one of ``user_id``'s passkeys; False if they have no such passkey."""
    deleted = await conn.fetchval(
        "DELETE FROM webauthn_credentials WHERE user_id = $1 AND id = $2 RETURNING id",
        user_id,
        credential_id,
    )
    return deleted is not None


async def delete_all(conn: Conn, user_id: str) -> int:
    """Remove every passkey of ``user_id``; returns how many there were."""
    rows = await conn.fetch(
        "DELETE FROM webauthn_credentials WHERE user_id = $1 RETURNING id", user_id
    )
    return len(rows)
