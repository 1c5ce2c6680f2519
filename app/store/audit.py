"""Audit rows in Postgres: written in batches, read per team and per agent.

The admin API pages through a team's log newest first, keyed by
``(timestamp, id)``, so rows that share a timestamp are neither skipped nor
repeated across pages. Every read is keyed by team id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from app.store.db import Conn, Queryable

COLUMNS: Final = (
    "request_id", "team_id", "agent_id", "credential_names", "target_url", "method", "outcome",
    "approval_status", "upstream_status", "total_latency_ms", "approval_latency_ms", "upstream_latency_ms",
    "response_sanitized", "request_headers", "request_body", "request_body_truncated", "policy_reason",
    "require_passkey", "approver_identity", "error", "timestamp", "response_unscannable",
    "response_unscannable_allowed",
)  # fmt: skip

_INSERT: Final = (
    f"INSERT INTO audit_log ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))})"
)


def _row(record: dict[str, Any]) -> tuple[Any, ...]:
    values = []
    for column in COLUMNS:
        value = record.get(column)
        if column == "request_headers":
            value = json.dumps(value or [])
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


async def insert_many(conn: Queryable, records: Sequence[dict[str, Any]]) -> None:
    await conn.executemany(_INSERT, [_row(r) for r in records])


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next (older) page starts."""

    timestamp: dt.datetime
    id: int


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[dict[str, Any]]
    next_cursor: Cursor | None


def _record(row: asyncpg.Record) -> dict[str, Any]:
    out: dict[str, Any] = {column: row[column] for column in COLUMNS}
    out["request_id"] = str(out["request_id"])
    out["request_headers"] = json.loads(out["request_headers"])
    out["credential_names"] = list(out["credential_names"])
    out["timestamp"] = out["timestamp"].isoformat()
    return out


async def for_agent(
    conn: Queryable, team_id: str, agent_id: str, limit: int
) -> list[dict[str, Any]]:
    """Newest first, scoped by team *and* agent (agent names are unique only per team)."""
    rows = await conn.fetch(
        f"SELECT {', '.join(COLUMNS)} FROM audit_log WHERE team_id = $1 AND agent_id = $2"
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
        f"SELECT id, {', '.join(COLUMNS)} FROM audit_log WHERE team_id = $1"
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
