"""Approval rows as the proxy, the executor and the approvers see them.

This module parks requests (under the pending caps, atomically), claims
approved ones for forwarding (``approved -> forwarding``, a conditional UPDATE
that only one replica can win), records outcomes, expires stale ones, lists
what approvers decide, and serves the agent's poll. Votes are in
:mod:`app.store.votes`; the state machine in :mod:`app.approvals.decisions`.

Bodies are stored once per team and SHA-256 in ``approval_bodies``, however
many parked requests carry them. A body is dropped when no row still needs it
(``body_held``); the hash and size stay on the row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any, Final, Literal

import asyncpg

from app.store.db import Conn, Queryable, translated
from app.store.models import AuthMode

Mode = Literal["unified", "placeholder"]

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

# Any constant works; with the team it names the lock that serialises parking.
_PARK_LOCK: Final = 0x7A9_0004
# A body touched this recently may belong to a park still committing; it stays.
_BODY_GRACE: Final = "interval '10 seconds'"

_COLUMNS: Final = (
    "a.txn_id, a.team_id, a.agent_id, a.mode, a.credential_names, a.injected_headers, a.method,"
    " a.target_url, a.request_headers, a.body_sha256, a.body_size, a.policy_reason,"
    " a.require_passkey, a.min_approvals, a.allowed_approvers, a.auth_mode, a.status, a.resolved_by,"
    " a.created_at, a.resolved_at, a.expires_at"
)
_BODY: Final = "(SELECT b.body FROM approval_bodies b WHERE b.team_id = a.team_id AND b.sha256 = a.body_sha256)"


@dataclass(frozen=True, slots=True)
class PendingCaps:
    """How much may wait for a decision at once (``TAP_MAX_PENDING_*``)."""

    per_agent: int
    per_team: int
    bytes_per_team: int


@dataclass(frozen=True, slots=True)
class CapReached:
    """Parking would exceed a cap; nothing was stored."""

    scope: Literal["agent", "team", "team_bytes"]
    limit: int


@dataclass(frozen=True, slots=True)
class ParkedRequest:
    """The request as the agent sent it (before any injection) and how it is to be forwarded."""

    txn_id: uuid.UUID
    team_id: str
    agent_id: str
    mode: Mode
    credential_names: tuple[str, ...]
    injected_headers: tuple[str, ...]
    """Headers the credential renders (unified mode); shown to approvers, masked."""
    method: str
    target_url: str
    headers: list[tuple[str, str]]
    policy_reason: str | None
    require_passkey: bool
    min_approvals: int
    allowed_approvers: tuple[str, ...]
    auth_mode: AuthMode
    """``X-TAP-Auth-Mode`` as the agent asked: forwarded in that mode, never re-guessed."""

    def __repr__(self) -> str:
        # NOTE: headers and body are what the agent sent; they stay out of logs.
        return f"{type(self).__name__}(txn_id={self.txn_id}, mode={self.mode!r})"


@dataclass(frozen=True, slots=True, repr=False)
class NewRequest(ParkedRequest):
    """What the pipeline parks."""

    body: bytes
    timeout_secs: int


@dataclass(frozen=True, slots=True, repr=False)
class StoredRequest(ParkedRequest):
    """A request waiting for (or past) a decision, as it will be forwarded."""

    body: bytes | None
    """``None`` once the row no longer holds its body (or when not loaded)."""
    body_sha256: str
    body_size: int
    status: str
    resolved_by: str | None
    created_at: dt.datetime
    resolved_at: dt.datetime | None
    expires_at: dt.datetime

    @property
    def approval_latency_ms(self) -> int | None:
        """From parking to the decision; None while undecided."""
        if self.resolved_at is None:
            return None
        return max(0, int((self.resolved_at - self.created_at).total_seconds() * 1000))


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _stored(row: asyncpg.Record, body: bytes | None = None) -> StoredRequest:
    return StoredRequest(
        txn_id=row["txn_id"],
        team_id=row["team_id"],
        agent_id=row["agent_id"],
        mode=row["mode"],
        credential_names=tuple(row["credential_names"]),
        injected_headers=tuple(row["injected_headers"]),
        method=row["method"],
        target_url=row["target_url"],
        headers=[(k, v) for k, v in json.loads(row["request_headers"])],
        body=body,
        body_sha256=row["body_sha256"],
        body_size=row["body_size"],
        policy_reason=row["policy_reason"],
        require_passkey=row["require_passkey"],
        min_approvals=row["min_approvals"],
        allowed_approvers=tuple(row["allowed_approvers"]),
        auth_mode=row["auth_mode"],
        status=row["status"],
        resolved_by=row["resolved_by"],
        created_at=row["created_at"],
        resolved_at=row["resolved_at"],
        expires_at=row["expires_at"],
    )


@translated
async def create(conn: Conn, request: NewRequest, caps: PendingCaps) -> dt.datetime | CapReached:
    """Park ``request`` unless a cap is reached; return its expiry.

    Runs its own transaction. A per-team advisory lock serialises the count
    and the insert, so concurrent parks can never overshoot a cap.
    """
    digest = body_sha256(request.body)
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", _PARK_LOCK, request.team_id
        )
        usage = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE agent_id = $2) AS agent_count, count(*) AS team_count"
            "  FROM approvals WHERE team_id = $1 AND status = 'pending' AND expires_at > now()",
            request.team_id,
            request.agent_id,
        )
        assert usage is not None  # an aggregate always returns a row
        if usage["agent_count"] >= caps.per_agent:
            return CapReached("agent", caps.per_agent)
        if usage["team_count"] >= caps.per_team:
            return CapReached("team", caps.per_team)
        stored = await conn.fetchval(
            "UPDATE approval_bodies SET last_used = clock_timestamp()"
            " WHERE team_id = $1 AND sha256 = $2 RETURNING true",
            request.team_id,
            digest,
        )
        if not stored:
            held: int = await conn.fetchval(
                "SELECT coalesce(sum(b.size), 0) FROM approval_bodies b WHERE b.team_id = $1"
                " AND EXISTS (SELECT 1 FROM approvals a WHERE a.team_id = b.team_id"
                " AND a.body_sha256 = b.sha256 AND a.body_held)",
                request.team_id,
            )
            if held + len(request.body) > caps.bytes_per_team:
                return CapReached("team_bytes", caps.bytes_per_team)
            await conn.execute(
                "INSERT INTO approval_bodies (team_id, sha256, body, size, last_used)"
                " VALUES ($1, $2, $3, $4, clock_timestamp())",
                request.team_id,
                digest,
                request.body,
                len(request.body),
            )
        expires_at: dt.datetime = await conn.fetchval(
            "INSERT INTO approvals (txn_id, team_id, agent_id, mode, credential_names, injected_headers,"
            " method, target_url, request_headers, body_sha256, body_size, body_held, policy_reason,"
            " require_passkey, min_approvals, allowed_approvers, auth_mode, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true, $12, $13, $14, $15,"
            " $16, now() + make_interval(secs => $17))"
            " RETURNING expires_at",
            request.txn_id,
            request.team_id,
            request.agent_id,
            request.mode,
            list(request.credential_names),
            list(request.injected_headers),
            request.method,
            request.target_url,
            json.dumps(request.headers),
            digest,
            len(request.body),
            request.policy_reason,
            request.require_passkey,
            request.min_approvals,
            list(request.allowed_approvers),
            request.auth_mode,
            request.timeout_secs,
        )
    return expires_at


async def claim_for_forwarding(conn: Queryable, txn_id: uuid.UUID) -> StoredRequest | None:
    """Take an approved row for forwarding, with its body. Only one caller ever gets it."""
    row = await conn.fetchrow(
        f"UPDATE approvals a SET status = 'forwarding' WHERE a.txn_id = $1 AND a.status = 'approved'"
        f" RETURNING {_COLUMNS}, {_BODY} AS body",
        txn_id,
    )
    return _stored(row, row["body"]) if row is not None else None


async def approved_ids(conn: Queryable) -> list[uuid.UUID]:
    """Approved rows nobody has claimed yet (a missed notification, a restart)."""
    return [
        row["txn_id"]
        for row in await conn.fetch(
            "SELECT txn_id FROM approvals WHERE status = 'approved' LIMIT 100"
        )
    ]


async def _release_body(conn: Queryable, team_id: str, digest: str) -> None:
    """Drop a stored body once no row holds it any more."""
    await conn.execute(
        "DELETE FROM approval_bodies b WHERE b.team_id = $1 AND b.sha256 = $2"
        f" AND b.last_used < clock_timestamp() - {_BODY_GRACE}"
        " AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.team_id = b.team_id"
        " AND a.body_sha256 = b.sha256 AND a.body_held)",
        team_id,
        digest,
    )


async def finish(
    conn: Queryable,
    stored: StoredRequest,
    *,
    status: str,
    response_status: int | None = None,
    response_headers: list[tuple[str, str]] | None = None,
    response_body: bytes | None = None,
    error: str | None = None,
) -> None:
    """Record the outcome of a claimed request and let go of the stored request."""
    await conn.execute(
        "UPDATE approvals SET status = $2, response_status = $3, response_headers = $4, response_body = $5,"
        " response_error = $6, body_held = false, request_headers = '[]'"
        " WHERE txn_id = $1 AND status = 'forwarding'",
        stored.txn_id,
        status,
        response_status,
        json.dumps(response_headers) if response_headers is not None else None,
        response_body,
        error,
    )
    await _release_body(conn, stored.team_id, stored.body_sha256)


async def _close(conn: Queryable, update: str) -> list[StoredRequest]:
    """Run an UPDATE that ends rows' need for their bodies; release those bodies."""
    closed = [_stored(row) for row in await conn.fetch(f"{update} RETURNING {_COLUMNS}")]
    for stored in closed:
        await _release_body(conn, stored.team_id, stored.body_sha256)
    return closed


async def expire_due(conn: Queryable) -> list[StoredRequest]:
    """Mark pending rows past their deadline as expired (fail closed) and return them."""
    return await _close(
        conn,
        "UPDATE approvals a SET status = 'expired', resolved_at = now(), body_held = false"
        " WHERE a.status = 'pending' AND a.expires_at <= now()",
    )


async def denied_unaudited(conn: Queryable) -> list[StoredRequest]:
    """Denied rows not yet audited: marks them, lets go of the request, returns each once."""
    return await _close(
        conn,
        "UPDATE approvals a SET denial_audited = true, body_held = false, request_headers = '[]'"
        " WHERE a.status = 'denied' AND NOT a.denial_audited",
    )


async def pending_rows(
    conn: Queryable, team_id: str, preview_bytes: int, txn_id: uuid.UUID | None = None
) -> list[tuple[StoredRequest, int]]:
    """Pending, unexpired requests of a team (newest first) with their approve-vote count.

    Each carries only the first ``preview_bytes`` of its body.
    """
    rows = await conn.fetch(
        f"SELECT {_COLUMNS},"
        " (SELECT substring(b.body FROM 1 FOR $2) FROM approval_bodies b"
        "   WHERE b.team_id = a.team_id AND b.sha256 = a.body_sha256) AS body_head,"
        " (SELECT count(*) FROM approval_votes v WHERE v.txn_id = a.txn_id AND v.decision = 'approve') AS approvals"
        "  FROM approvals a"
        " WHERE a.team_id = $1 AND a.status = 'pending' AND a.expires_at > now()"
        "   AND ($3::uuid IS NULL OR a.txn_id = $3)"
        " ORDER BY a.created_at DESC",
        team_id,
        preview_bytes,
        txn_id,
    )
    return [(_stored(row, row["body_head"]), row["approvals"]) for row in rows]


async def status_of(conn: Queryable, team_id: str, txn_id: uuid.UUID) -> str | None:
    """The row's stored status, or None if the team has no such request."""
    status: str | None = await conn.fetchval(
        "SELECT status FROM approvals WHERE team_id = $1 AND txn_id = $2", team_id, txn_id
    )
    return status


@translated
async def poll(conn: Queryable, txn_id: uuid.UUID) -> dict[str, Any] | None:
    """The row as an agent's poll reads it (status mapped), or None."""
    row = await conn.fetchrow(
        "SELECT txn_id, team_id, agent_id, status, created_at, expires_at, response_status, response_headers,"
        " response_body, response_error, body_sha256, body_size FROM approvals WHERE txn_id = $1",
        txn_id,
    )
    if row is None:
        return None
    return dict(row) | {"agent_status": AGENT_STATUS[row["status"]]}


@translated
async def purge_delivered(conn: Queryable, txn_id: uuid.UUID) -> None:
    """Drop the stored response once the agent has read its final answer."""
    await conn.execute(
        "UPDATE approvals SET response_body = NULL, response_headers = NULL"
        " WHERE txn_id = $1 AND status IN ('forwarded', 'error', 'denied', 'expired')",
        txn_id,
    )


async def cleanup(conn: Queryable, keep_secs: int) -> None:
    """Delete finished rows older than ``keep_secs`` past their expiry, and bodies nobody holds."""
    await conn.execute(
        "DELETE FROM approvals WHERE status IN ('forwarded', 'error', 'denied', 'expired')"
        " AND expires_at + make_interval(secs => $1) < now()",
        keep_secs,
    )
    await conn.execute(
        "DELETE FROM approval_bodies b"
        f" WHERE b.last_used < clock_timestamp() - {_BODY_GRACE}"
        " AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.team_id = b.team_id"
        " AND a.body_sha256 = b.sha256 AND a.body_held)"
    )
