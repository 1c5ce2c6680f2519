"""Linking a chat account to a person, and finding the member behind a chat account.

The same mechanism serves every chat channel: a signed-in person asks for a
code (:func:`issue_code`); the chat account sends it to the bot (Telegram's
``/start <code>`` deep link, a Matrix DM); the channel calls :func:`redeem`
with the account id the chat service vouches for. Codes are random,
single-use, expire after :data:`CODE_TTL`, and are stored hashed.
:func:`member_for` is the only way a channel turns an account into a member.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from typing import Final

from app.store import identities, members
from app.store.db import Conn
from app.store.identities import Identity
from app.store.members import Member

CODE_TTL: Final = dt.timedelta(minutes=10)
CODE_BYTES: Final = 18
"""144 random bits; 24 characters of base64url, which Telegram's ``start`` parameter accepts."""
CODE_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_DISPLAY_CHARS: Final = 128


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def issue_code(conn: Conn, *, user_id: str, kind: str) -> tuple[str, dt.datetime]:
    """A fresh code for ``user_id`` to link a ``kind`` account (earlier unused ones die); and its expiry."""
    code = secrets.token_urlsafe(CODE_BYTES)
    expires = await identities.add_code(
        conn, user_id=user_id, kind=kind, code_hash=_hash(code), ttl=CODE_TTL
    )
    return code, expires


async def redeem(
    conn: Conn, *, kind: str, code: str, external_id: str, display: str | None
) -> Identity | None:
    """Link the account that sent ``code``; None when the code is malformed, unknown, used or expired.

    Must run inside a transaction, so the code is consumed only with the link.
    """
    if not CODE_PATTERN.match(code):
        return None
    user_id = await identities.take_code(conn, kind=kind, code_hash=_hash(code))
    if user_id is None:
        return None
    shown = display[:MAX_DISPLAY_CHARS] if display else None
    return await identities.link(
        conn, user_id=user_id, kind=kind, external_id=external_id, display=shown
    )


async def void(conn: Conn, *, kind: str, code: str) -> bool:
    """Destroy ``code`` unused (it was shown where others could read it); True if it was live."""
    if not CODE_PATTERN.match(code):
        return False
    return await identities.take_code(conn, kind=kind, code_hash=_hash(code)) is not None


async def member_for(conn: Conn, *, team_id: str, kind: str, external_id: str) -> Member | None:
    """The member of ``team_id`` whose verified link is this chat account, or None."""
    user_id = await identities.user_for(conn, kind, external_id)
    if user_id is None:
        return None
    found: Member | None = await members.by_user(conn, team_id, user_id)
    return found
