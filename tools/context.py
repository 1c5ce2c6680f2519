"""How a ``tap`` command reaches the database and the keys.

The CLI resolves everything exactly as the server does: ``POSTGRES_DATABASE_URL``
or the embedded Postgres under ``$TAP_DATA_DIR``, the master key through
custody (``--encryption-key``, ``TAP_ENCRYPTION_KEY``, ``TAP_ENCRYPTION_KEY_FILE``
or the local key file), migrations applied, and the key checked against the
database's canary so a wrong key is refused before anything is written.
Commands act on the team ``default``, created on first use with approval mode
``gated``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import asyncpg

from app.config import Config
from app.crypto import KeyRing
from app.runtime import load_keys
from app.store import db, teams
from app.store.db import Conn
from app.store.migrate import migrate


@dataclass(frozen=True, slots=True)
class CliContext:
    conn: Conn
    keys: KeyRing
    team_id: str


def load_config(environ: Mapping[str, str], encryption_key: str | None) -> Config:
    """Config from the environment, with ``--encryption-key`` taking precedence."""
    env = dict(environ)
    if encryption_key is not None:
        env["TAP_ENCRYPTION_KEY"] = encryption_key
        env.pop("TAP_ENCRYPTION_KEY_FILE", None)
    return Config.from_env(env)


@contextlib.asynccontextmanager
async def open_database(config: Config) -> AsyncIterator[asyncpg.Pool]:
    """Connect to the configured database and migrate it; no keys are loaded. Raises TapError."""
    embedded = None
    if config.database_url is None:
        embedded = db.start_embedded(config.data_dir)
        url = embedded.url
    else:
        url = config.database_url.reveal()
    try:
        pool = await db.create_pool(url, min_size=1, max_size=2)
        try:
            with db.translate_errors():
                async with pool.acquire() as conn:
                    await migrate(conn)
            yield pool
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            embedded.stop()


@contextlib.asynccontextmanager
async def open_context(config: Config) -> AsyncIterator[CliContext]:
    """Connect, migrate, check the key, ensure the default team. Raises TapError / CustodyError."""
    async with open_database(config) as pool:
        keys = await load_keys(config, pool)
        with db.translate_errors():
            async with pool.acquire() as conn:
                await teams.ensure_team(conn, teams.DEFAULT_TEAM_ID, teams.DEFAULT_TEAM_ID, "gated")
                yield CliContext(conn=conn, keys=keys, team_id=teams.DEFAULT_TEAM_ID)
