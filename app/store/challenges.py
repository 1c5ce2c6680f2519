"""Single-use, expiring WebAuthn challenges, one slot per (purpose, subject, user).

A new challenge replaces the slot's old one; :func:`take` deletes the row it
returns, so a challenge can be answered at most once, and an expired one not
at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from app.store.db import Conn, Queryable

Purpose = Literal["register", "login", "approve", "step_up"]


@dataclass(frozen=True, slots=True)
class Challenge:
    purpose: Purpose
    subject: str
    user_id: str
    challenge: bytes
    payload: str | None
    expires_at: dt.datetime


async def put(
    conn: Conn,
    *,
    purpose: Purpose,
    subject: str,
    user_id: str,
    challenge: bytes,
    payload: str | None,
    expires_at: dt.datetime,
) -> None:
    """Store a challenge, replacing any earlier one in the same slot."""
    await conn.execute(
        "INSERT INTO webauthn_challenges (purpose, subject, user_id, challenge, payload, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (purpose, subject, user_id) DO UPDATE"
        " SET challenge = EXCLUDED.challenge, payload = EXCLUDED.payload, expires_at = EXCLUDED.expires_at",
        purpose,
        subject,
        user_id,
        challenge,
        payload,
        expires_at,
    )


async def take(
    conn: Queryable, *, purpose: Purpose, subject: str, user_id: str | None = None
) -> Challenge | None:
    """Delete and return the slot's live challenge; None if there is none or it expired.

    ``user_id`` None takes the subject's challenge whoever it belongs to (the
    login token is the subject, and names its user). NOTE: callers take the
    challenge outside the transaction that checks the answer, so a refused
    answer spends it too.
    """
    row = await conn.fetchrow(
        "DELETE FROM webauthn_challenges"
        " WHERE purpose = $1 AND subject = $2 AND ($3::text IS NULL OR user_id = $3)"
        " RETURNING purpose, subject, user_id, challenge, payload, expires_at,"
        " expires_at > now() AS live",
        purpose,
        subject,
        user_id,
    )
    if row is None or not row["live"]:
        return None
    return Challenge(
        purpose=row["purpose"],
        subject=row["subject"],
        user_id=row["user_id"],
        challenge=bytes(row["challenge"]),
        payload=row["payload"],
        expires_at=row["expires_at"],
    )


async def purge_expired(conn: Conn) -> None:
    await conn.execute("DELETE FROM webauthn_challenges WHERE expires_at <= now()")
