"""Every column that holds a value sealed under the master key, in one list.

A master-key rotation re-seals exactly these columns and proves that none of
them holds a ciphertext of the old version before that version is retired.
A table that stores a new kind of sealed value is one more :class:`SealedColumn`
in :data:`SEALED_COLUMNS`: its ``purpose`` and ``aad_columns`` must be what the
module that writes it passes to :meth:`app.crypto.KeyRing.seal_row`.

The SQL here is generic over the entries; the identifiers come only from this
list, never from input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import asyncpg

from app.crypto import AAD_CREDENTIAL, AAD_OAUTH2_TOKEN, KeyRing
from app.store.db import Conn
from app.store.events import CACHE_CHANNEL


@dataclass(frozen=True, slots=True)
class SealedColumn:
    """One sealed column: where it lives and what its associated data binds."""

    table: str
    key_columns: tuple[str, ...]
    """The row's primary key (how a re-sealed value is written back)."""
    sealed_column: str
    version_column: str
    """The key version the value is sealed under (part of the associated data)."""
    purpose: bytes
    """The associated data's tag for this kind of value."""
    aad_columns: tuple[str, ...]
    """The columns whose text, in this order, binds the ciphertext to its row."""
    team_column: str | None = None
    """The row's team, when the proxy caches these rows: re-sealing one drops that team's cache."""

    @property
    def label(self) -> str:
        return f"{self.table}.{self.sealed_column}"

    @property
    def _team_columns(self) -> tuple[str, ...]:
        return () if self.team_column is None else (self.team_column,)

    @property
    def select_list(self) -> str:
        """The columns a :class:`SealedRow` is read from."""
        named = ", ".join(
            dict.fromkeys((*self.key_columns, *self.aad_columns, *self._team_columns))
        )
        return f"{named}, {self.sealed_column} AS sealed, {self.version_column} AS version"


SEALED_COLUMNS: Final[tuple[SealedColumn, ...]] = (
    SealedColumn(
        table="credentials",
        key_columns=("team_id", "name"),
        sealed_column="sealed_value",
        version_column="key_version",
        purpose=AAD_CREDENTIAL,
        aad_columns=("team_id", "name"),
        team_column="team_id",
    ),
    SealedColumn(
        table="oauth2_tokens",
        key_columns=("team_id", "credential_name"),
        sealed_column="sealed_access_token",
        version_column="key_version",
        purpose=AAD_OAUTH2_TOKEN,
        aad_columns=("team_id", "credential_name"),
    ),
)


@dataclass(frozen=True, slots=True)
class SealedRow:
    """One sealed value, as read for re-sealing or verification."""

    key: tuple[object, ...]
    aad_parts: tuple[str, ...]
    sealed: bytes
    version: int
    team: str | None


async def count(conn: Conn, column: SealedColumn, *, version: int | None = None) -> int:
    """Sealed values in ``column``; only those under ``version`` when given."""
    where = f"{column.sealed_column} IS NOT NULL"
    args: list[object] = []
    if version is not None:
        where += f" AND {column.version_column} = $1"
        args.append(version)
    n: int = await conn.fetchval(f"SELECT count(*) FROM {column.table} WHERE {where}", *args)
    return n


async def any_sealed(conn: Conn) -> bool:
    """Whether any listed column holds a sealed value (a new key would orphan it)."""
    for column in SEALED_COLUMNS:
        if await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {column.table} WHERE {column.sealed_column} IS NOT NULL)"
        ):
            return True
    return False


async def count_not_under(conn: Conn, column: SealedColumn, version: int) -> int:
    """Sealed values in ``column`` under any version but ``version`` (the rotation's proof)."""
    n: int = await conn.fetchval(
        f"SELECT count(*) FROM {column.table} WHERE {column.sealed_column} IS NOT NULL"
        f" AND {column.version_column} <> $1",
        version,
    )
    return n


async def lock_batch(
    conn: Conn, column: SealedColumn, *, version: int, limit: int
) -> list[SealedRow]:
    """Up to ``limit`` values under ``version``, locked until the transaction ends.

    A writer replacing one of them waits for us, then writes under the new
    version; one already locked by a writer is re-read after it commits and
    skipped if it no longer matches.
    """
    keys = ", ".join(column.key_columns)
    rows = await conn.fetch(
        f"SELECT {column.select_list} FROM {column.table}"
        f" WHERE {column.sealed_column} IS NOT NULL AND {column.version_column} = $1"
        f" ORDER BY {keys} LIMIT $2 FOR UPDATE",
        version,
        limit,
    )
    return [_row(column, r) for r in rows]


async def after(
    conn: Conn, column: SealedColumn, last: tuple[object, ...] | None, *, limit: int
) -> list[SealedRow]:
    """The next ``limit`` sealed values in key order after ``last`` (for a verification pass)."""
    keys = ", ".join(column.key_columns)
    where = f"{column.sealed_column} IS NOT NULL"
    args: list[object] = [limit]
    if last is not None:
        marks = ", ".join(f"${i + 2}" for i in range(len(last)))
        where += f" AND ({keys}) > ({marks})"
        args.extend(last)
    rows = await conn.fetch(
        f"SELECT {column.select_list} FROM {column.table} WHERE {where} ORDER BY {keys} LIMIT $1",
        *args,
    )
    return [_row(column, r) for r in rows]


async def write_resealed(
    conn: Conn, column: SealedColumn, rows: Sequence[tuple[SealedRow, bytes]], *, version: int
) -> None:
    """Store each row's new ciphertext under ``version`` (the rows are locked by :func:`lock_batch`)."""
    n = len(column.key_columns)
    where = " AND ".join(f"{name} = ${i + 3}" for i, name in enumerate(column.key_columns))
    await conn.executemany(
        f"UPDATE {column.table} SET {column.sealed_column} = $1, {column.version_column} = $2"
        f" WHERE {where}",
        [(blob, version, *row.key[:n]) for row, blob in rows],
    )
    if column.team_column is not None:
        teams = sorted({row.team for row, _ in rows if row.team is not None})
        await conn.execute(
            "SELECT pg_notify($1, team) FROM unnest($2::text[]) AS team", CACHE_CHANNEL, teams
        )


def reseal(keys: KeyRing, column: SealedColumn, row: SealedRow, *, to_version: int) -> bytes:
    """``row``'s value opened under its version and sealed under ``to_version``. Raises CryptoError."""
    plaintext = open_row(keys, column, row)
    return keys.seal_row(
        plaintext, purpose=column.purpose, parts=row.aad_parts, key_version=to_version
    )


def open_row(keys: KeyRing, column: SealedColumn, row: SealedRow) -> bytes:
    """``row``'s plaintext. Raises CryptoError."""
    return keys.unseal_row(
        row.sealed, purpose=column.purpose, parts=row.aad_parts, key_version=row.version
    )


def _row(column: SealedColumn, record: asyncpg.Record) -> SealedRow:
    get = record.__getitem__
    return SealedRow(
        key=tuple(get(name) for name in column.key_columns),
        aad_parts=tuple(str(get(name)) for name in column.aad_columns),
        sealed=bytes(get("sealed")),
        version=int(get("version")),
        team=None if column.team_column is None else str(get(column.team_column)),
    )
