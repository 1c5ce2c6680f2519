"""The channel outbox: one row per (request, channel), delivered and later updated once.

Rows are inserted in the transaction that parks the request, so a
notification exists exactly when the request does. Workers :func:`claim` due
rows with ``FOR UPDATE SKIP LOCKED`` and stamp a lease, so two replicas never
work on the same row at once and a worker that dies mid-call only delays the
row until its lease ends. States::

    deliver --sent--> delivered --request decided, message updated--> done
    deliver --request no longer pending, or nothing to update---------> done
    deliver | delivered --too many failures----------------------------> failed
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from app.store.db import Conn

NOTIFY_CHANNEL: Final = "tap_channel_outbox"
"""Sent when rows are added, so an idle dispatcher on any replica wakes at once."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A claimed row, with the state of its request at claim time."""

    id: int
    txn_id: uuid.UUID
    team_id: str
    kind: str
    channel_name: str
    destination: dict[str, Any]
    state: str
    attempts: int
    message_ref: dict[str, Any] | None
    request_status: str
    resolved_by: str | None
    request_expired: bool


async def add(
    conn: Conn,
    *,
    txn_id: uuid.UUID,
    team_id: str,
    kind: str,
    channel_name: str,
    destination: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO channel_outbox (txn_id, team_id, kind, channel_name, destination)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        txn_id,
        team_id,
        kind,
        channel_name,
        json.dumps(destination),
    )
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(txn_id))


def _row(row: asyncpg.Record) -> OutboxRow:
    ref = row["message_ref"]
    return OutboxRow(
        id=row["id"],
        txn_id=row["txn_id"],
        team_id=row["team_id"],
        kind=row["kind"],
        channel_name=row["channel_name"],
        destination=json.loads(row["destination"]),
        state=row["state"],
        attempts=row["attempts"],
        message_ref=json.loads(ref) if ref is not None else None,
        request_status=row["request_status"],
        resolved_by=row["resolved_by"],
        request_expired=row["request_expired"],
    )


async def claim(
    conn: Conn, *, kinds: list[str], limit: int, lease: dt.timedelta
) -> list[OutboxRow]:
    """Lease up to ``limit`` due rows of the channels this worker runs.

    Due: a row still to deliver, or a delivered row whose request is decided
    or past its deadline (its message must be updated).
    """
    rows = await conn.fetch(
        "WITH due AS ("
        "  SELECT o.id, a.status AS request_status, a.resolved_by,"
        "         (a.status = 'pending' AND a.expires_at <= now()) AS request_expired"
        "    FROM channel_outbox o JOIN approvals a ON a.txn_id = o.txn_id"
        "   WHERE o.kind = ANY($1::text[]) AND o.next_attempt_at <= now()"
        "     AND (o.lease_until IS NULL OR o.lease_until < now())"
        "     AND (o.state = 'deliver'"
        "          OR (o.state = 'delivered' AND (a.status <> 'pending' OR a.expires_at <= now())))"
        "   ORDER BY o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED)"
        " UPDATE channel_outbox o SET lease_until = now() + $3 FROM due WHERE o.id = due.id"
        " RETURNING o.id, o.txn_id, o.team_id, o.kind, o.channel_name, o.destination, o.state,"
        "  o.attempts, o.message_ref, due.request_status, due.resolved_by, due.request_expired",
        kinds,
        limit,
        lease,
    )
    return [_row(row) for row in rows]


async def delivered(conn: Conn, row_id: int, ref: dict[str, Any] | None) -> None:
    """The message is out; keep its reference for the update (no reference: nothing to update)."""
    await conn.execute(
        "UPDATE channel_outbox SET state = CASE WHEN $2::jsonb IS NULL THEN 'done' ELSE 'delivered' END,"
        " message_ref = $2::jsonb, attempts = 0, lease_until = NULL, last_error = NULL,"
        " next_attempt_at = now() WHERE id = $1",
        row_id,
        json.dumps(ref) if ref is not None else None,
    )


async def done(conn: Conn, row_id: int) -> None:
    await conn.execute(
        "UPDATE channel_outbox SET state = 'done', lease_until = NULL WHERE id = $1", row_id
    )


async def retry_later(
    conn: Conn, row_id: int, *, error: str, delay: dt.timedelta, give_up: bool
) -> None:
    """Record a failure; try again after ``delay``, or stop (``failed``) when ``give_up``."""
    await conn.execute(
        "UPDATE channel_outbox SET attempts = attempts + 1, last_error = $2,"
        " next_attempt_at = now() + $3, lease_until = NULL,"
        " state = CASE WHEN $4 THEN 'failed' ELSE state END WHERE id = $1",
        row_id,
        error[:500],
        delay,
        give_up,
    )


async def team_of(conn: Conn, *, kind: str, txn_id: uuid.UUID) -> str | None:
    """The team of a request announced on ``kind``: a chat callback names only the request."""
    team_id: str | None = await conn.fetchval(
        "SELECT team_id FROM channel_outbox WHERE kind = $1 AND txn_id = $2 LIMIT 1", kind, txn_id
    )
    return team_id


async def purge_finished(conn: Conn) -> None:
    """Forget rows whose request is gone (cascade) or that finished more than a day ago."""
    await conn.execute(
        "DELETE FROM channel_outbox WHERE state IN ('done', 'failed')"
        " AND created_at < now() - interval '1 day'"
    )
