"""Custody facts kept in the database: the key canary and the wrapped data key.

The wrapped data key's row also records its origin: ``generated`` inside the
enclave on first boot, or ``migrated`` in from an environment key. It is
written with the key and never changed (a KEK rotation re-wraps the same key).

The canary is a constant sealed with the master key on first use. Opening it at
start-up proves the configured key is the one this database was written with,
so a wrong key is refused before it can write anything.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from app.crypto import KeyRing
from app.errors import CryptoError, WrongEncryptionKey
from app.store import sealed
from app.store.db import Conn, translate_errors, translated
from enclave import DekOrigin

CANARY: Final = "key_canary"
WRAPPED_DEK: Final = "wrapped_dek"


async def _get(conn: Conn, name: str) -> bytes | None:
    value: bytes | None = await conn.fetchval("SELECT value FROM custody WHERE name = $1", name)
    return value


async def _insert_once(conn: Conn, name: str, value: bytes, origin: str | None = None) -> bytes:
    await conn.execute(
        "INSERT INTO custody (name, value, origin) VALUES ($1, $2, $3)"
        " ON CONFLICT (name) DO NOTHING",
        name,
        value,
        origin,
    )
    stored = await _get(conn, name)
    assert stored is not None
    return stored


@translated
async def check_or_create_canary(conn: Conn, keys: KeyRing) -> None:
    """Raise WrongEncryptionKey unless ``keys`` opens this database's canary (created if absent)."""
    blob = await _get(conn, CANARY)
    if blob is None:
        if await has_sealed_data(conn):
            # Sealed rows without a canary: we cannot tell whether this key wrote them.
            raise WrongEncryptionKey("the database holds sealed credentials but no key canary")
        # Two processes may race here; the loser verifies the winner's canary.
        blob = await _insert_once(conn, CANARY, keys.seal_canary())
    try:
        keys.check_canary(blob)
    except CryptoError:
        raise WrongEncryptionKey(
            "the encryption key does not match this database (it was written with another key)"
        ) from None


async def has_sealed_data(conn: Conn) -> bool:
    return await sealed.any_sealed(conn)


async def reseal_canary(conn: Conn, keys: KeyRing) -> None:
    """Seal the canary afresh under ``keys``' write version (a rotation's last step)."""
    await conn.execute("UPDATE custody SET value = $2 WHERE name = $1", CANARY, keys.seal_canary())


async def install_rotated_key(conn: Conn, wrapped: bytes) -> None:
    """Store a rotation's new wrapped DEK in place of the old one.

    Only inside the transaction that retires the old key version, after the
    proof that nothing sealed under it remains; the new key was generated and
    wrapped by custody, so its origin is ``generated``.
    """
    await conn.execute(
        "UPDATE custody SET value = $2, origin = 'generated' WHERE name = $1", WRAPPED_DEK, wrapped
    )


async def dek_origin(conn: Conn) -> str | None:
    """``generated`` or ``migrated``; ``None`` when no DEK is stored or it predates the record."""
    origin: str | None = await conn.fetchval(
        "SELECT origin FROM custody WHERE name = $1", WRAPPED_DEK
    )
    return origin


async def replace_wrapped_key(conn: Conn, old: bytes, new: bytes) -> bool:
    """Swap the wrapped DEK for a re-wrapped one, only if it is still ``old`` (KEK rotation)."""
    swapped = await conn.fetchval(
        "UPDATE custody SET value = $3 WHERE name = $1 AND value = $2 RETURNING name",
        WRAPPED_DEK,
        old,
        new,
    )
    return swapped is not None


class PostgresWrappedKeyStore:
    """``enclave.WrappedKeyStore`` over the custody table."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    async def get_wrapped_key(self) -> bytes | None:
        with translate_errors():
            async with self._pool.acquire() as conn:
                return await _get(conn, WRAPPED_DEK)

    async def insert_wrapped_key_once(self, wrapped: bytes, *, origin: DekOrigin) -> bytes:
        with translate_errors():
            async with self._pool.acquire() as conn:
                return await _insert_once(conn, WRAPPED_DEK, wrapped, origin)

    async def get_dek_origin(self) -> str | None:
        """Raises DatabaseUnavailable or StoreError."""
        with translate_errors():
            async with self._pool.acquire() as conn:
                return await dek_origin(conn)

    async def has_sealed_data(self) -> bool:
        with translate_errors():
            async with self._pool.acquire() as conn:
                return await has_sealed_data(conn) or await _get(conn, CANARY) is not None


async def has_canary(conn: Conn) -> bool:
    """True once a key has been bound to this database (a read; never creates the canary)."""
    return await _get(conn, CANARY) is not None
