from __future__ import annotations

import asyncio

import asyncpg

from app.store.migrate import load_migrations, migrate


async def test_concurrent_migrations_apply_each_file_once(database_url: str) -> None:
    conns = [await asyncpg.connect(database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [name for result in results for name in result]
        assert sorted(applied) == sorted(m.name for m in load_migrations())
        rows = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == [m.version for m in load_migrations()]
        # Idempotent: a later start applies nothing.
        assert await migrate(conns[0]) == []
    finally:
        for conn in conns:
            await conn.close()


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))
