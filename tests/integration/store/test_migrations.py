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


async def test_rows_parked_before_modes_were_stored_migrate_fail_safe(database_url: str) -> None:
    """Names split into an array; a row whose headers hold a reference becomes placeholder
    mode, whose placement rules run after approval; the body moves to approval_bodies."""
    conn = await asyncpg.connect(database_url)
    try:
        before = [m for m in load_migrations() if m.version < 4]
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in before:
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
        await conn.execute("INSERT INTO teams (id, name) VALUES ('t', 't')")
        for txn, names, headers, status in (
            (
                "00000000-0000-0000-0000-000000000001",
                "a",
                '[["X-Leak", "<CREDENTIAL:a>"]]',
                "pending",
            ),
            ("00000000-0000-0000-0000-000000000002", "a,b", "[]", "pending"),
            ("00000000-0000-0000-0000-000000000003", "a", "[]", "forwarded"),
        ):
            await conn.execute(
                "INSERT INTO approvals (txn_id, team_id, agent_id, credential_name, method, target_url,"
                " request_headers, request_body, status, expires_at)"
                " VALUES ($1::uuid, 't', 'bot', $2, 'POST', 'https://x/', $3::jsonb, 'same body', $4,"
                " now() + interval '1 hour')",
                txn,
                names,
                headers,
                status,
            )
        await migrate(conn)
        rows = await conn.fetch(
            "SELECT mode, credential_names, body_size, body_held, body_sha256 FROM approvals ORDER BY txn_id"
        )
        assert [(r["mode"], r["credential_names"], r["body_held"]) for r in rows] == [
            ("placeholder", ["a"], True),
            ("unified", ["a", "b"], True),
            ("unified", ["a"], False),
        ]
        assert {r["body_size"] for r in rows} == {9}
        bodies = await conn.fetch("SELECT sha256, body FROM approval_bodies")
        assert [(b["sha256"], b["body"]) for b in bodies] == [
            (rows[0]["body_sha256"], b"same body")
        ]
    finally:
        await conn.close()
