"""How a ``tap`` command reaches the database, the key and its team.

Every command resolves things exactly as the server does: ``POSTGRES_DATABASE_URL``
or the embedded Postgres in the data folder (see :mod:`tools.cli.location`), the
master key through custody (``TAP_ENCRYPTION_KEY``, ``TAP_ENCRYPTION_KEY_FILE``
or the key file the server generated in the data folder), and the key checked
against the database's canary so a wrong key is refused before anything is
written.

NOTE: only ``tap init`` (``Access.INIT``) may create a database, a key, the
schema or the canary. Any other command that finds none says where it looked
and stops. Read-only commands (``Access.READ``) run in a read-only transaction,
so they cannot write even by mistake; write commands run in one transaction,
so a failure leaves nothing half done.

Commands act on the team named by ``--team`` / ``TAP_TEAM`` (``default``
without either). The ``default`` team is created, ``gated``, by the first
write to it; any other team must exist.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import asyncpg

from app.config import Config
from app.crypto import KeyRing
from app.errors import DatabaseUnavailable
from app.runtime import load_keys
from app.store import custody, db, migrate, teams
from app.store.db import Conn
from enclave import GENERATED_KEY_NAME
from tools.cli.errors import CliError, NotInitialised, cause_in_words
from tools.cli.location import AUDIT_FILE, DataLocation, locate

DEFAULT_TEAM: Final = teams.DEFAULT_TEAM_ID


class Access(enum.Enum):
    """What a command may do to the database."""

    READ = "read"
    WRITE = "write"
    INIT = "init"


@dataclass(frozen=True, slots=True)
class CliContext:
    """What a command's action receives: a connection in its transaction, the keys, the team."""

    conn: Conn
    keys: KeyRing
    team_id: str
    team_name: str


@dataclass(frozen=True, slots=True)
class Settings:
    """The configuration a command runs with, and where its data folder came from."""

    config: Config
    location: DataLocation | None

    @classmethod
    def load(cls, environ: Mapping[str, str], cwd: Path) -> Settings:
        """Parse the environment like the server, then place the data folder. Raises ConfigError."""
        config = Config.from_env(environ)
        location = locate(environ, cwd)
        if location is not None:
            config = dataclasses.replace(config, data_dir=location.data_dir)
            if not environ.get("TAP_AUDIT_LOG", "").strip() and location.project is not None:
                config = dataclasses.replace(config, audit_log=location.project / AUDIT_FILE)
        return cls(config=config, location=location)

    def _looked(self) -> str:
        return f" (found through {self.location.source})" if self.location else ""

    def data_dir(self) -> Path:
        """The data folder, absolute. Raises NotInitialised when nothing says where it is."""
        if self.location is None:
            raise NotInitialised(
                "tap cannot tell where TAP keeps its data: run it inside the TAP project folder, "
                "or set TAP_DATA_DIR (or POSTGRES_DATABASE_URL and TAP_ENCRYPTION_KEY)"
            )
        return self.config.data_dir.resolve()

    def custody_config(self, access: Access) -> Config:
        """The config with the key the server generated, if that is where the key lives.

        Raises NotInitialised when no key is configured and none was generated (only
        ``tap init`` generates one, exactly as the server's first start would).
        """
        config = self.config
        if (
            config.enclave
            or config.encryption_key is not None
            or config.encryption_key_file is not None
            or not config.embedded_database
            or access is Access.INIT
        ):
            return config
        key_file = self.data_dir() / GENERATED_KEY_NAME
        if not key_file.is_file():
            raise NotInitialised(
                f"no encryption key: TAP_ENCRYPTION_KEY and TAP_ENCRYPTION_KEY_FILE are unset and "
                f"{key_file} does not exist{self._looked()}; run `tap init` or start the server once"
            )
        return dataclasses.replace(config, encryption_key_file=key_file)

    def require_database(self, access: Access) -> None:
        """Raise NotInitialised unless the embedded database exists (or ``tap init`` may make it)."""
        if self.config.database_url is not None or access is Access.INIT:
            return
        pgdata = self.data_dir() / "postgres"
        if not (pgdata / "PG_VERSION").is_file():
            raise NotInitialised(
                f"no TAP database in {pgdata}{self._looked()}; run `tap init` to create one "
                "there, start the server once, or set TAP_DATA_DIR or POSTGRES_DATABASE_URL"
            )

    def describe_database(self) -> str:
        """The database in words, for messages: a folder, or host and name (never a password)."""
        if self.config.database_url is None:
            return f"the embedded database in {self.data_dir() / 'postgres'}"
        parts = urlsplit(self.config.database_url.reveal())
        return f"the database {parts.path.lstrip('/') or '(default)'} on {parts.hostname or 'a local socket'}"


@contextlib.asynccontextmanager
async def open_database(settings: Settings, access: Access) -> AsyncIterator[asyncpg.Pool]:
    """Connect to the configured database; only ``Access.INIT`` creates or migrates it.

    Raises NotInitialised, or TapError when the database cannot be reached.
    """
    config = settings.config
    embedded = None
    if config.database_url is None:
        settings.require_database(access)
        embedded = db.start_embedded(settings.data_dir())
        url = embedded.url
    else:
        url = config.database_url.reveal()
    try:
        try:
            pool = await db.create_pool(url, min_size=1, max_size=2)
        except DatabaseUnavailable as exc:
            raise CliError(
                f"cannot reach {settings.describe_database()}: {cause_in_words(exc)}"
            ) from exc
        try:
            async with db.connection(pool) as conn:
                if access is Access.INIT:
                    await migrate.migrate(conn)
                else:
                    await _require_schema(conn, settings)
            yield pool
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            embedded.stop()


async def _require_schema(conn: Conn, settings: Settings) -> None:
    missing = await migrate.pending(conn)
    where = settings.describe_database()
    if missing is None:
        raise NotInitialised(
            f"{where} holds no TAP data yet; run `tap init` or start the server once"
        )
    if missing:
        raise NotInitialised(
            f"{where} is older than this tap ({len(missing)} migration(s) pending); "
            "restart the server (it migrates) or run `tap init`"
        )


async def _keys(config: Config, settings: Settings, pool: asyncpg.Pool, access: Access) -> KeyRing:
    if access is not Access.INIT:
        async with db.connection(pool) as conn:
            bound = await custody.has_canary(conn)
        if not bound:
            raise NotInitialised(
                f"{settings.describe_database()} has no key bound to it yet; run `tap init` "
                "or start the server once"
            )
    return await load_keys(config, pool)


async def _team(conn: Conn, name: str, access: Access) -> tuple[str, str]:
    team = await teams.find(conn, name)
    if team is not None:
        return team.id, team.name
    if name == DEFAULT_TEAM:
        if access is Access.READ:
            return DEFAULT_TEAM, DEFAULT_TEAM  # nothing there yet; reads see an empty team
        created = await teams.ensure_team(conn, DEFAULT_TEAM, DEFAULT_TEAM, "gated")
        return created.id, created.name
    raise CliError(f"no team named {name!r}; `tap team list` shows the teams")


@contextlib.asynccontextmanager
async def open_context(
    settings: Settings, access: Access, team: str | None
) -> AsyncIterator[CliContext]:
    """Connect, check the key, open the transaction, find the team (``None``: no team needed).

    Raises NotInitialised, CliError, TapError or CustodyError.
    """
    # Before starting anything, so a missing database or key costs nothing and creates nothing.
    settings.require_database(access)
    config = settings.custody_config(access)
    async with open_database(settings, access) as pool:
        keys = await _keys(config, settings, pool, access)
        async with db.transaction(pool, readonly=access is Access.READ) as conn:
            team_id, team_name = await _team(conn, team, access) if team else ("", "")
            yield CliContext(conn=conn, keys=keys, team_id=team_id, team_name=team_name)
