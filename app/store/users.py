"""Users: people who sign in to the admin API. Passwords are stored as argon2id hashes."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Final

import asyncpg

from app.errors import AlreadyExists, NotFound
from app.store.db import Conn

_COLUMNS: Final = "id, email, password_hash, email_verified, display_name, created_at"


@dataclass(frozen=True, slots=True, repr=False)
class User:
    id: str
    email: str
    password_hash: str
    email_verified: bool
    display_name: str | None
    created_at: dt.datetime

    def __repr__(self) -> str:
        # NOTE: the password hash never lands in a log line.
        return f"User(id={self.id!r}, verified={self.email_verified})"


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        email_verified=row["email_verified"],
        display_name=row["display_name"],
        created_at=row["created_at"],
    )


async def create(
    conn: Conn, *, email: str, password_hash: str, email_verified: bool = False
) -> User:
    """Create a user. Raises AlreadyExists when the email is taken."""
    try:
        row = await conn.fetchrow(
            f"INSERT INTO users (id, email, password_hash, email_verified) VALUES ($1, $2, $3, $4)"
            f" RETURNING {_COLUMNS}",
            f"usr_{uuid.uuid4().hex}",
            email,
            password_hash,
            email_verified,
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists("an account with this email already exists") from None
    assert row is not None
    return _user(row)


async def by_email(conn: Conn, email: str) -> User | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE email = $1", email)
    return _user(row) if row is not None else None


async def get(conn: Conn, user_id: str) -> User:
    """Raises NotFound."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)
    if row is None:
        raise NotFound("no such user")
    return _user(row)


async def mark_verified(conn: Conn, user_id: str) -> None:
    await conn.execute(
        "UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1", user_id
    )


async def set_password_hash(conn: Conn, user_id: str, password_hash: str) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
        user_id,
        password_hash,
    )
