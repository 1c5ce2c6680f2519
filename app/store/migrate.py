"""Apply the numbered SQL migrations in ``app/store/migrations``.

Each file ``NNNN_name.sql`` runs once, in its own transaction, and is recorded
in ``schema_migrations``. The whole run holds a Postgres advisory lock, so two
replicas starting against one empty database apply each migration exactly once.
Released migration files are never edited; a change is a new file.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

from app.store.db import Conn, translated

logger = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every replica.
MIGRATION_LOCK_ID: Final = 0x7A9_0001
_FILENAME: Final = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The packaged migrations, in order. Raises RuntimeError on a gap or duplicate."""
    found: list[Migration] = []
    for entry in resources.files("app.store.migrations").iterdir():
        match = _FILENAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text()))
    found.sort(key=lambda m: m.version)
    expected = list(range(1, len(found) + 1))
    if [m.version for m in found] != expected:
        raise RuntimeError(
            f"migrations must be numbered 1..n without gaps: {[m.name for m in found]}"
        )
    return found


async def pending(conn: Conn) -> list[Migration] | None:
    """The migrations not yet applied, or None when the database holds no TAP schema at all.

    A read: it creates nothing, so a command that must not write can ask first.
    """
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return None
    done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
    return [m for m in load_migrations() if m.version not in done]


@translated
async def migrate(conn: Conn) -> list[str]:
    """Apply pending migrations; return the names applied. Safe to call concurrently."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in load_migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            logger.info("applied migration %s", migration.name)
            applied.append(migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied
