"""What one worker process holds while it serves: pool, keys, HTTP session.

:func:`open_runtime` runs in Quart's ``before_serving`` and :meth:`Runtime.close`
in ``after_serving`` (one pool and one upstream session per process). The
custody step runs here: the key provider yields the master key, the purpose
keys are derived, and the database's key canary must open with them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

import enclave
from app.config import Config
from app.crypto import KeyRing
from app.errors import CryptoError, WrongEncryptionKey
from app.store import custody, db
from app.store.migrate import migrate

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    config: Config
    pool: asyncpg.Pool
    keys: KeyRing

    async def close(self) -> None:
        await self.pool.close()


async def load_keys(config: Config, pool: asyncpg.Pool) -> KeyRing:
    """Obtain the master key through custody and check it against the database.

    Raises enclave.CustodyError or WrongEncryptionKey; both are fatal.
    """
    provider = enclave.load_key_provider(config)
    master_key = await provider.master_key(custody.PostgresWrappedKeyStore(pool))
    try:
        keys = KeyRing.from_master_key(master_key)
    except CryptoError:
        raise WrongEncryptionKey("the key provider returned a key that is not 32 bytes") from None
    finally:
        del master_key
    with db.translate_errors():
        async with pool.acquire() as conn:
            await custody.check_or_create_canary(conn, keys)
    logger.info("master key loaded from %s (fingerprint %s)", provider.name, keys.fingerprint)
    return keys


async def open_runtime(config: Config, database_url: str) -> Runtime:
    """Connect, migrate, and load the keys. Raises TapError or CustodyError."""
    pool = await db.create_pool(database_url)
    try:
        with db.translate_errors():
            async with pool.acquire() as conn:
                await migrate(conn)
        keys = await load_keys(config, pool)
    except BaseException:
        await pool.close()
        raise
    return Runtime(config=config, pool=pool, keys=keys)
