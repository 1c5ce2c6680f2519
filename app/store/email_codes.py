"""Short codes sent by email (verify an address, reset a password).

A code is six digits, so it is guessable by design; what keeps it safe is
that it is bound to one user and one purpose (the stored hash covers both),
there is one live code per user and purpose, and the row is deleted after
:data:`MAX_ATTEMPTS` wrong guesses or when it expires. Callers additionally
throttle guesses per client address.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Final, Literal

from app.crypto import KeyRing
from app.errors import InvalidCode, TooManyAttempts
from app.store.db import Conn

Purpose = Literal["verify_email", "reset_password"]

CODE_DIGITS: Final = 6
CODE_TTL: Final = dt.timedelta(minutes=15)
MAX_ATTEMPTS: Final = 5
RESEND_COOLDOWN: Final = dt.timedelta(seconds=60)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def _hash(keys: KeyRing, user_id: str, purpose: Purpose, code: str) -> str:
    return keys.hash_token(f"email-code/{purpose}/{user_id}/{code}")


async def issue(
    conn: Conn,
    keys: KeyRing,
    *,
    user_id: str,
    purpose: Purpose,
    enforce_cooldown: bool = True,
) -> str:
    """Replace the user's live code for ``purpose`` with a fresh one and return it (to be emailed).

    Raises TooManyAttempts when a code was issued less than the cooldown ago.
    """
    if enforce_cooldown:
        recent = await conn.fetchval(
            "SELECT ceil(extract(epoch FROM created_at + $3 - now()))::integer FROM email_codes"
            " WHERE user_id = $1 AND purpose = $2 AND created_at + $3 > now()",
            user_id,
            purpose,
            RESEND_COOLDOWN,
        )
        if recent is not None:
            raise TooManyAttempts(
                "a code was sent moments ago; wait before asking again",
                retry_after_secs=max(1, recent),
            )
    code = new_code()
    await conn.execute(
        "INSERT INTO email_codes (user_id, purpose, code_hash, attempts, expires_at) VALUES ($1, $2, $3, 0, now() + $4)"
        " ON CONFLICT (user_id, purpose) DO UPDATE SET code_hash = EXCLUDED.code_hash, attempts = 0,"
        " expires_at = EXCLUDED.expires_at, created_at = now()",
        user_id,
        purpose,
        _hash(keys, user_id, purpose, code),
        CODE_TTL,
    )
    return code


CodeOutcome = Literal["accepted", "wrong", "exhausted", "missing"]


async def consume(
    conn: Conn, keys: KeyRing, *, user_id: str, purpose: Purpose, code: str
) -> CodeOutcome:
    """Check ``code`` and say what happened; the caller raises after its transaction commits.

    ``accepted`` deletes the code. A wrong guess is counted (``wrong``), and
    the guess that reaches :data:`MAX_ATTEMPTS` deletes it (``exhausted``);
    ``missing`` means no live code. NOTE: this returns instead of raising
    because raising inside the transaction would roll the attempt count back.
    The row is locked so parallel guesses are counted one by one.
    """
    row = await conn.fetchrow(
        "SELECT code_hash, attempts, expires_at > now() AS live FROM email_codes"
        " WHERE user_id = $1 AND purpose = $2 FOR UPDATE",
        user_id,
        purpose,
    )
    if row is None:
        return "missing"
    if not row["live"]:
        await _delete(conn, user_id, purpose)
        return "missing"
    if hmac.compare_digest(row["code_hash"], _hash(keys, user_id, purpose, code)):
        await _delete(conn, user_id, purpose)
        return "accepted"
    if row["attempts"] + 1 >= MAX_ATTEMPTS:
        await _delete(conn, user_id, purpose)
        return "exhausted"
    await conn.execute(
        "UPDATE email_codes SET attempts = attempts + 1 WHERE user_id = $1 AND purpose = $2",
        user_id,
        purpose,
    )
    return "wrong"


def raise_unless_accepted(outcome: CodeOutcome) -> None:
    """Raises InvalidCode for anything but ``accepted``."""
    if outcome == "exhausted":
        raise InvalidCode("too many wrong codes; this code is no longer valid, ask for a new one")
    if outcome != "accepted":
        raise InvalidCode("the code is invalid or has expired; ask for a new one")


async def _delete(conn: Conn, user_id: str, purpose: Purpose) -> None:
    await conn.execute(
        "DELETE FROM email_codes WHERE user_id = $1 AND purpose = $2", user_id, purpose
    )
