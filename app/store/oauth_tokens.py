"""OAuth 2 access tokens: one sealed row per credential, and the lock that serialises refreshes.

The token row is a cache of what the credential's token endpoint last
issued. ``sealed_access_token`` is sealed like a credential value
(:meth:`~app.crypto.KeyRing.seal_row`) under its own purpose tag and this
row's team and credential, so the blob opens nowhere else: not as the
credential's value, not for another credential or team. Master-key rotation
re-seals it (:mod:`app.store.sealed`). ``source_digest``
ties the token to the credential value it was obtained with; once the value
changes (a human replaces it, or a refresh rotates the refresh token) the row
no longer matches and is treated as absent.

Usage::

    async with db.transaction(pool) as conn:
        await lock_refresh(conn, team_id, name)        # one refresher per credential
        current = await load(conn, keys, team_id, name)
        ...
        await save(conn, keys, team_id, name, token, ...)
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Final

from app.crypto import AAD_OAUTH2_TOKEN, KeyRing
from app.errors import CryptoError
from app.secret import Secret
from app.store.db import Conn, translated

_REFRESH_LOCK: Final = 0x7A9_0011
"""Advisory-lock namespace of OAuth 2 refreshes (the second key is the credential's hash)."""


def value_digest(sealed_value: bytes) -> bytes:
    """Which stored credential value a token was obtained with (a digest of the ciphertext)."""
    return hashlib.sha256(sealed_value).digest()


@dataclass(frozen=True, slots=True, repr=False)
class StoredToken:
    """An access token as stored, opened. Its ``repr`` shows the expiry only."""

    access_token: Secret
    source_digest: bytes
    obtained_at: dt.datetime
    expires_at: dt.datetime

    def __repr__(self) -> str:
        return f"StoredToken(access_token={self.access_token!r}, expires_at={self.expires_at!r})"


@translated
async def lock_refresh(conn: Conn, team_id: str, name: str) -> None:
    """Take the transaction-scoped lock that lets one replica at a time refresh ``name``.

    Must run inside a transaction; the lock is released when it ends (also
    when the connection drops, so a crashed replica never holds it).
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", _REFRESH_LOCK, f"{team_id}/{name}"
    )


@translated
async def load(conn: Conn, keys: KeyRing, team_id: str, name: str) -> StoredToken | None:
    """The stored token of ``name``, or ``None``. A row that does not open counts as absent."""
    row = await conn.fetchrow(
        "SELECT sealed_access_token, key_version, source_digest, obtained_at, expires_at"
        " FROM oauth2_tokens WHERE team_id = $1 AND credential_name = $2",
        team_id,
        name,
    )
    if row is None:
        return None
    try:
        token = keys.unseal_row(
            row["sealed_access_token"],
            purpose=AAD_OAUTH2_TOKEN,
            parts=(team_id, name),
            key_version=row["key_version"],
        ).decode()
    except (CryptoError, UnicodeDecodeError):
        # NOTE: a token that does not open (another key, a blob copied from
        # elsewhere) is never used; the caller obtains a fresh one.
        return None
    return StoredToken(
        access_token=Secret(token),
        source_digest=bytes(row["source_digest"]),
        obtained_at=row["obtained_at"],
        expires_at=row["expires_at"],
    )


@translated
async def save(
    conn: Conn,
    keys: KeyRing,
    *,
    team_id: str,
    name: str,
    key_version: int,
    access_token: Secret,
    source_digest: bytes,
    obtained_at: dt.datetime,
    expires_at: dt.datetime,
) -> None:
    """Store (or replace) the access token of ``name``, sealed for its row."""
    sealed = keys.seal_row(
        access_token.reveal().encode(),
        purpose=AAD_OAUTH2_TOKEN,
        parts=(team_id, name),
        key_version=key_version,
    )
    await conn.execute(
        "INSERT INTO oauth2_tokens (team_id, credential_name, sealed_access_token, key_version,"
        " source_digest, obtained_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (team_id, credential_name) DO UPDATE SET"
        " sealed_access_token = EXCLUDED.sealed_access_token, key_version = EXCLUDED.key_version,"
        " source_digest = EXCLUDED.source_digest, obtained_at = EXCLUDED.obtained_at,"
        " expires_at = EXCLUDED.expires_at",
        team_id,
        name,
        sealed,
        key_version,
        source_digest,
        obtained_at,
        expires_at,
    )


@translated
async def credential_value_for_update(
    conn: Conn, team_id: str, name: str
) -> tuple[bytes, int] | None:
    """The credential's sealed value and key version, row-locked until the transaction ends.

    The refresh reads the value here, not from a cached configuration: a
    refresh token rotated a moment ago by another replica is only here.
    """
    row = await conn.fetchrow(
        "SELECT sealed_value, key_version FROM credentials"
        " WHERE team_id = $1 AND name = $2 FOR UPDATE",
        team_id,
        name,
    )
    if row is None or row["sealed_value"] is None:
        return None
    return bytes(row["sealed_value"]), int(row["key_version"])
