"""Approval votes and the conditional resolution of a request.

The rules (who may vote, how many votes settle it) are in
:mod:`app.approvals.decisions`; this module only reads and writes the rows,
inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Final

from app.store.db import Conn

NOTIFY_CHANNEL: Final = "tap_approvals"
"""Sent with the transaction id whenever a request is decided."""


@dataclass(frozen=True, slots=True)
class Ballot:
    """What a vote is checked against, read with the row locked."""

    status: str
    require_passkey: bool
    min_approvals: int
    allowed_approvers: tuple[str, ...]
    expires_at: dt.datetime


async def lock_for_vote(conn: Conn, team_id: str, txn_id: uuid.UUID) -> Ballot | None:
    """Lock the request row until the transaction ends; None if the team has no such request."""
    row = await conn.fetchrow(
        "SELECT status, require_passkey, min_approvals, allowed_approvers, expires_at"
        "  FROM approvals WHERE team_id = $1 AND txn_id = $2 FOR UPDATE",
        team_id,
        txn_id,
    )
    if row is None:
        return None
    return Ballot(
        status=row["status"],
        require_passkey=row["require_passkey"],
        min_approvals=row["min_approvals"],
        allowed_approvers=tuple(row["allowed_approvers"]),
        expires_at=row["expires_at"],
    )


async def record(conn: Conn, txn_id: uuid.UUID, voter: str, decision: str) -> int:
    """Record (or change) ``voter``'s vote; return the number of approve votes now."""
    await conn.execute(
        "INSERT INTO approval_votes (txn_id, voter, decision) VALUES ($1, $2, $3)"
        " ON CONFLICT (txn_id, voter) DO UPDATE SET decision = EXCLUDED.decision, created_at = now()",
        txn_id,
        voter,
        decision,
    )
    approvals: int = await conn.fetchval(
        "SELECT count(*) FROM approval_votes WHERE txn_id = $1 AND decision = 'approve'", txn_id
    )
    return approvals


async def resolve(conn: Conn, team_id: str, txn_id: uuid.UUID, status: str, voter: str) -> bool:
    """Move a pending request to ``status`` and notify every replica; False if it was not pending."""
    changed = await conn.fetchval(
        "UPDATE approvals SET status = $3, resolved_by = $4, resolved_at = now()"
        " WHERE team_id = $1 AND txn_id = $2 AND status = 'pending' RETURNING txn_id",
        team_id,
        txn_id,
        status,
        voter,
    )
    if changed is None:
        return False
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(txn_id))
    return True


async def approvers_of(
    conn: Conn, team_id: str, txn_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """Who has voted to approve each of ``txn_ids`` (requests of ``team_id`` only), earliest first."""
    rows = await conn.fetch(
        "SELECT v.txn_id, v.voter FROM approval_votes v"
        "  JOIN approvals a ON a.txn_id = v.txn_id"
        " WHERE a.team_id = $1 AND v.txn_id = ANY($2::uuid[]) AND v.decision = 'approve'"
        " ORDER BY v.created_at, v.voter",
        team_id,
        txn_ids,
    )
    found: dict[uuid.UUID, list[str]] = {}
    for row in rows:
        found.setdefault(row["txn_id"], []).append(row["voter"])
    return found
