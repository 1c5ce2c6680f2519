"""The list of sealed columns is the whole truth: rotation re-seals only what it names."""

from __future__ import annotations

import asyncpg

from app.store.migrate import migrate
from app.store.sealed import SEALED_COLUMNS


async def _columns(conn: asyncpg.Connection) -> dict[str, dict[str, str]]:
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public'"
    )
    tables: dict[str, dict[str, str]] = {}
    for row in rows:
        tables.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    return tables


async def test_every_sealed_column_in_the_schema_is_listed(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn)
        tables = await _columns(conn)
    finally:
        await conn.close()
    in_schema = {
        (table, column)
        for table, columns in tables.items()
        for column, kind in columns.items()
        if column.startswith("sealed") and kind == "bytea"
    }
    listed = {(entry.table, entry.sealed_column) for entry in SEALED_COLUMNS}
    assert in_schema == listed, "add the new sealed column to app/store/sealed.py"
    for entry in SEALED_COLUMNS:
        named = {*entry.key_columns, *entry.aad_columns, entry.version_column}
        if entry.team_column is not None:
            named.add(entry.team_column)
        assert named <= tables[entry.table].keys(), entry
        assert tables[entry.table][entry.version_column] == "integer", entry
