"""Start a real tap-proxy in enclave mode against the fakes, and inspect failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.store import db
from app.store.custody import PostgresWrappedKeyStore
from app.store.migrate import migrate
from tests.enclave.conftest import AzureFakes
from tests.support.proxy import ProxyProcess, base_env, start_proxy

STARTUP_TIMEOUT_SECS = 60


def enclave_env(tmp: Path, database_url: str, azure: AzureFakes, **extra: str) -> dict[str, str]:
    env = base_env(tmp, database_url, TAP_LOG_LEVEL="info")
    del env["TAP_ENCRYPTION_KEY"]
    env.update(azure.env(**extra))
    return env


def start_enclave_proxy(
    tmp: Path, database_url: str, azure: AzureFakes, **extra: str
) -> ProxyProcess:
    return start_proxy(
        tmp, enclave_env(tmp, database_url, azure, **extra), timeout=STARTUP_TIMEOUT_SECS
    )


def startup_failure(tmp: Path, env: dict[str, str]) -> tuple[int, str]:
    """Start tap-proxy, expect it to exit; return its exit code and output."""
    proxy = start_proxy(tmp, env, wait=False)
    try:
        code = proxy.process.wait(STARTUP_TIMEOUT_SECS)
    finally:
        proxy.stop()
    return code, proxy.log()


def put_record(database_url: str, raw: bytes) -> None:
    async def go() -> None:
        pool = await db.create_pool(database_url, max_size=1)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            await PostgresWrappedKeyStore(pool).insert_wrapped_key_once(raw, origin="generated")
        finally:
            await pool.close()

    asyncio.run(go())
