"""Audit rows in Postgres: written in batches, read per team and per agent.

Headers and body are ``bytea`` (any bytes an agent sends can be stored), and
``record_id`` is unique, so writing a record twice (a retry after a failure
whose outcome was unclear, a spool file drained again after a crash) stores it
once. A batch is one atomic statement; when the database refuses it for what
is *in* it, each record is tried alone, so one bad record cannot take the
others with it.

The admin API pages through a team's log newest first, keyed by
``(timestamp, id)``, so rows that share a timestamp are neither skipped nor
repeated across pages. Every read is keyed by team id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from app.audit_record import AuditRecord
from app.errors import DatabaseUnavailable, StoreError
from app.store.db import Conn, Queryable, translate_errors, translated

COLUMNS: Final = (
    "request_id", "team_id", "agent_id", "credential_names", "target_url", "method", "outcome",
    "approval_status", "upstream_status", "total_latency_ms", "approval_latency_ms", "upstream_latency_ms",
    "response_sanitized", "request_headers", "request_body", "request_body_truncated", "policy_reason",
    "require_passkey", "approver_identity", "error", "timestamp", "response_unscannable",
    "response_unscannable_allowed", "approval_evidence_sha256",
)  # fmt: skip
_WRITTEN: Final = ("record_id", *COLUMNS)

_INSERT: Final = (
    f"INSERT INTO audit_log ({', '.join(_WRITTEN)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_WRITTEN) + 1))}) "
    "ON CONFLICT (record_id) DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the database refused, and why (an error class name, never a value)."""

    record: AuditRecord
    reason: str


def _row(record: AuditRecord) -> tuple[Any, ...]:
    """Bind parameters for one record; absent optional fields take their defaults.

    Raises ValueError or TypeError when a field is malformed.
    """
    values: list[Any] = []
    for column in _WRITTEN:
        value: Any = record.get(column)
        if column == "record_id":
            value = uuid.UUID(value) if value is not None else uuid.uuid4()
        elif column == "request_headers":
            value = [[bytes(name), bytes(val)] for name, val in value or []]
        elif column == "timestamp":
            value = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        elif column in (
            "response_sanitized",
            "request_body_truncated",
            "require_passkey",
            "response_unscannable_allowed",
        ):
            value = bool(value)
        elif column == "credential_names":
            value = list(value or [])
        values.append(value)
    return tuple(values)


async def insert_many(conn: Queryable, records: Sequence[AuditRecord]) -> list[Rejected]:
    """Store ``records``; return the ones the database refused (the others are stored).

    Raises DatabaseUnavailable when the database cannot be reached: then nothing
    is known to be stored, and writing the same records again is safe.
    """
    rows: list[tuple[AuditRecord, tuple[Any, ...]]] = []
    rejected: list[Rejected] = []
    for record in records:
        try:
            rows.append((record, _row(record)))
        except (ValueError, TypeError) as exc:
            rejected.append(Rejected(record, type(exc).__name__))
    if not rows:
        return rejected
    try:
        with translate_errors():
            await conn.executemany(_INSERT, [row for _, row in rows])
        return rejected
    except DatabaseUnavailable:
        raise
    except StoreError:
        pass  # Something in the batch was refused: find it, store the rest.
    for record, row in rows:
        try:
            with translate_errors():
                await conn.execute(_INSERT, *row)
        except DatabaseUnavailable:
            raise
        except StoreError as exc:
            cause = exc.__cause__
            rejected.append(Rejected(record, type(cause or exc).__name__))
    return rejected


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next (older) page starts."""

    timestamp: dt.datetime
    id: int


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[AuditRecord]
    next_cursor: Cursor | None


def _record(row: asyncpg.Record) -> AuditRecord:
    out: dict[str, Any] = {column: row[column] for column in _WRITTEN}
    out["record_id"] = str(out["record_id"])
    out["request_id"] = str(out["request_id"])
    out["request_headers"] = [(bytes(n), bytes(v)) for n, v in out["request_headers"] or []]
    out["request_body"] = None if out["request_body"] is None else bytes(out["request_body"])
    out["credential_names"] = list(out["credential_names"])
    out["timestamp"] = out["timestamp"].isoformat()
    record: AuditRecord = out  # type: ignore[assignment]
    return record


@translated
async def for_agent(conn: Queryable, team_id: str, agent_id: str, limit: int) -> list[AuditRecord]:
    """Newest first, scoped by team *and* agent (agent names are unique only per team)."""
    rows = await conn.fetch(
        f"SELECT {', '.join(_WRITTEN)} FROM audit_log WHERE team_id = $1 AND agent_id = $2"
        " ORDER BY timestamp DESC, id DESC LIMIT $3",
        team_id,
        agent_id,
        limit,
    )
    return [_record(row) for row in rows]


async def page(
    conn: Conn,
    team_id: str,
    *,
    agent_id: str | None,
    credential: str | None,
    outcome: str | None,
    before: Cursor | None,
    limit: int,
) -> Page:
    """Up to ``limit`` rows older than ``before``, newest first, with optional filters."""
    rows = await conn.fetch(
        f"SELECT id, {', '.join(_WRITTEN)} FROM audit_log WHERE team_id = $1"
        " AND ($2::text IS NULL OR agent_id = $2)"
        " AND ($3::text IS NULL OR $3 = ANY(credential_names))"
        " AND ($4::text IS NULL OR outcome = $4)"
        " AND ($5::timestamptz IS NULL OR (timestamp, id) < ($5, $6))"
        " ORDER BY timestamp DESC, id DESC LIMIT $7",
        team_id,
        agent_id,
        credential,
        outcome,
        before.timestamp if before else None,
        before.id if before else 0,
        limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = Cursor(rows[-1]["timestamp"], rows[-1]["id"]) if more and rows else None
    return Page(entries=[_record(row) for row in rows], next_cursor=cursor)


async def of_request(conn: Queryable, team_id: str, request_id: uuid.UUID) -> list[AuditRecord]:
    """Every audit record of one request of ``team_id`` (parked, then forwarded or refused)."""
    rows = await conn.fetch(
        f"SELECT {', '.join(_WRITTEN)} FROM audit_log WHERE team_id = $1 AND request_id = $2"
        " ORDER BY timestamp",
        team_id,
        request_id,
    )
    return [_record(row) for row in rows]
