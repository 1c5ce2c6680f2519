"""Approval rows as the proxy and the executor see them.

Deciding (votes, quorum) lives in :mod:`app.approvals.decisions`; this module
creates rows, claims approved ones for forwarding (``approved -> forwarding``,
a conditional UPDATE that only one replica can win), records outcomes, expires
stale ones, and serves the agent's poll.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from app.store.db import Queryable

# What an agent's poll reports for each stored status.
AGENT_STATUS: Final = {
    "pending": "pending",
    "approved": "pending",
    "forwarding": "pending",
    "forwarded": "forwarded",
    "error": "error",
    "denied": "denied",
    "expired": "timed_out",
}


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A request waiting for (or past) a decision, as it will be forwarded."""

    txn_id: uuid.UUID
    team_id: str
    agent_id: str
    credential_name: str
    method: str
    target_url: str
    headers: list[tuple[str, str]]
    body: bytes
    policy_reason: str | None
    require_passkey: bool
    created_at: dt.datetime
    resolved_by: str | None


async def create(
    conn: Queryable,
    *,
    txn_id: uuid.UUID,
    team_id: str,
    agent_id: str,
    credential_name: str,
    method: str,
    target_url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    body_preview: str | None,
    policy_reason: str,
    require_passkey: bool,
    min_approvals: int,
    allowed_approvers: tuple[str, ...],
    timeout_secs: int,
) -> dt.datetime:
    """Insert a pending row; return its expiry."""
    expires_at: dt.datetime = await conn.fetchval(
        "INSERT INTO approvals (txn_id, team_id, agent_id, credential_name, method, target_url, request_headers,"
        " request_body, body_preview, policy_reason, require_passkey, min_approvals, allowed_approvers, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now() + make_interval(secs => $14))"
        " RETURNING expires_at",
        txn_id,
        team_id,
        agent_id,
        credential_name,
        method,
        target_url,
        json.dumps(headers),
        body,
        body_preview,
        policy_reason,
        require_passkey,
        min_approvals,
        list(allowed_approvers),
        timeout_secs,
    )
    return expires_at


def _stored(row: asyncpg.Record) -> StoredRequest:
    return StoredRequest(
        txn_id=row["txn_id"],
        team_id=row["team_id"],
        agent_id=row["agent_id"],
        credential_name=row["credential_name"],
        method=row["method"],
        target_url=row["target_url"],
        headers=[(k, v) for k, v in json.loads(row["request_headers"])],
        body=row["request_body"] or b"",
        policy_reason=row["policy_reason"],
        require_passkey=row["require_passkey"],
        created_at=row["created_at"],
        resolved_by=row["resolved_by"],
    )


async def claim_for_forwarding(conn: Queryable, txn_id: uuid.UUID) -> StoredRequest | None:
    """Take an approved row for forwarding. Only one caller ever gets it."""
    row = await conn.fetchrow(
        "UPDATE approvals SET status = 'forwarding' WHERE txn_id = $1 AND status = 'approved'"
        " RETURNING txn_id, team_id, agent_id, credential_name, method, target_url, request_headers,"
        " request_body, policy_reason, require_passkey, created_at, resolved_by",
        txn_id,
    )
    return _stored(row) if row is not None else None


async def approved_ids(conn: Queryable) -> list[uuid.UUID]:
    """Approved rows nobody has claimed yet (a missed notification, a restart)."""
    return [
        row["txn_id"]
        for row in await conn.fetch(
            "SELECT txn_id FROM approvals WHERE status = 'approved' LIMIT 100"
        )
    ]


async def finish(
    conn: Queryable,
    txn_id: uuid.UUID,
    *,
    status: str,
    response_status: int | None = None,
    response_headers: list[tuple[str, str]] | None = None,
    response_body: bytes | None = None,
    error: str | None = None,
) -> None:
    """Record the outcome of a claimed request and drop the stored request body."""
    await conn.execute(
        "UPDATE approvals SET status = $2, response_status = $3, response_headers = $4, response_body = $5,"
        " response_error = $6, request_body = NULL, request_headers = '[]'"
        " WHERE txn_id = $1 AND status = 'forwarding'",
        txn_id,
        status,
        response_status,
        json.dumps(response_headers) if response_headers is not None else None,
        response_body,
        error,
    )


async def expire_due(conn: Queryable) -> list[StoredRequest]:
    """Mark pending rows past their deadline as expired (fail closed) and return them."""
    rows = await conn.fetch(
        "UPDATE approvals SET status = 'expired', resolved_at = now(), request_body = NULL, body_preview = NULL"
        " WHERE status = 'pending' AND expires_at <= now()"
        " RETURNING txn_id, team_id, agent_id, credential_name, method, target_url, request_headers,"
        " request_body, policy_reason, require_passkey, created_at, resolved_by"
    )
    return [_stored(row) for row in rows]


async def denied_unaudited(conn: Queryable) -> list[StoredRequest]:
    """Denied rows not yet audited: marks them, drops the stored request, returns each once."""
    rows = await conn.fetch(
        "UPDATE approvals SET denial_audited = true, request_body = NULL, request_headers = '[]',"
        " body_preview = NULL WHERE status = 'denied' AND NOT denial_audited"
        " RETURNING txn_id, team_id, agent_id, credential_name, method, target_url, '[]'::jsonb AS request_headers,"
        " NULL::bytea AS request_body, policy_reason, require_passkey, created_at, resolved_by"
    )
    return [_stored(row) for row in rows]


async def poll(conn: Queryable, txn_id: uuid.UUID) -> dict[str, Any] | None:
    """The row as an agent's poll reads it (status mapped), or None."""
    row = await conn.fetchrow(
        "SELECT txn_id, team_id, agent_id, status, created_at, expires_at, response_status, response_headers,"
        " response_body, response_error FROM approvals WHERE txn_id = $1",
        txn_id,
    )
    if row is None:
        return None
    return dict(row) | {"agent_status": AGENT_STATUS[row["status"]]}


async def purge_delivered(conn: Queryable, txn_id: uuid.UUID) -> None:
    """Drop the stored response and preview once the agent has read its final answer."""
    await conn.execute(
        "UPDATE approvals SET response_body = NULL, response_headers = NULL, body_preview = NULL"
        " WHERE txn_id = $1 AND status IN ('forwarded', 'error', 'denied', 'expired')",
        txn_id,
    )


async def cleanup(conn: Queryable, keep_secs: int) -> None:
    """Delete finished rows older than ``keep_secs`` past their expiry."""
    await conn.execute(
        "DELETE FROM approvals WHERE status IN ('forwarded', 'error', 'denied', 'expired')"
        " AND expires_at + make_interval(secs => $1) < now()",
        keep_secs,
    )


async def body_digest(conn: Queryable, team_id: str, txn_id: uuid.UUID) -> str | None:
    """Hex SHA-256 of the stored body that will be forwarded; None if no such request."""
    digest: str | None = await conn.fetchval(
        "SELECT encode(sha256(coalesce(request_body, ''::bytea)), 'hex') FROM approvals"
        " WHERE team_id = $1 AND txn_id = $2",
        team_id,
        txn_id,
    )
    return digest
