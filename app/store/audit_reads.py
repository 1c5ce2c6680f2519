"""The team's audit log as the admin API pages through it.

Pages are newest first and keyed by ``(timestamp, id)``, so rows that share
a timestamp are neither skipped nor repeated across pages. Every read is
keyed by team id.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from app.store.audit import COLUMNS
from app.store.db import Conn

_SELECT: Final = f"SELECT id, {', '.join(COLUMNS)} FROM audit_log"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next (older) page starts."""

    timestamp: dt.datetime
    id: int


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[dict[str, Any]]
    next_cursor: Cursor | None


def _entry(row: asyncpg.Record) -> dict[str, Any]:
    out: dict[str, Any] = {column: row[column] for column in COLUMNS}
    out["request_id"] = str(out["request_id"])
    out["request_headers"] = json.loads(out["request_headers"])
    out["credential_names"] = list(out["credential_names"])
    out["timestamp"] = out["timestamp"].isoformat()
    return out


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
    rows = await conn.fetch(
        _SELECT + " WHERE team_id = $1"
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
    return Page(entries=[_entry(row) for row in rows], next_cursor=cursor)
