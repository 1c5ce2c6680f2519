"""Deciding a pending request: one vote per approver, resolved in one transaction.

State machine of ``approvals.status``::

    pending --approve votes >= min_approvals--> approved --claim--> forwarding --> forwarded | error
    pending --any eligible deny-----------------> denied
    pending --deadline----------------------------> expired

A decision counts only if a conditional UPDATE (``WHERE status = 'pending'``)
changed the row, so two approvers or two replicas racing cannot both win.
Terminal states never change. Every change sends ``NOTIFY tap_approvals`` with
the transaction id so any replica's executor wakes and forwards.

Eligibility by team role (approvers see only credentials assigned to them) is
the caller's check; this module enforces what the request itself carries:
``allowed_approvers``, ``min_approvals`` and ``require_passkey``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Final, Literal

import asyncpg

from app.errors import (
    AlreadyDecided,
    ApprovalNotFound,
    InvalidInput,
    NotAnApprover,
    OperatorNotEligible,
    PasskeyRequired,
)
from app.store.db import Conn

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL: Final = "tap_approvals"
OPERATOR: Final = "operator"
MAX_REASON_CHARS: Final = 500

Decision = Literal["approve", "deny"]
Via = Literal["cli", "api", "passkey", "telegram", "matrix", "dashboard"]


@dataclass(frozen=True, slots=True)
class PendingApproval:
    txn_id: uuid.UUID
    team_id: str
    agent_id: str
    credential_name: str
    method: str
    target_url: str
    body_preview: str | None
    require_passkey: bool
    min_approvals: int
    allowed_approvers: tuple[str, ...]
    approvals: int
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class VoteResult:
    status: str
    """``pending`` (more votes needed), ``approved`` or ``denied``."""
    approvals: int
    needed: int


_PENDING: Final = """
SELECT a.txn_id, a.team_id, a.agent_id, a.credential_name, a.method, a.target_url, a.body_preview,
       a.require_passkey, a.min_approvals, a.allowed_approvers, a.created_at, a.expires_at,
       (SELECT count(*) FROM approval_votes v WHERE v.txn_id = a.txn_id AND v.decision = 'approve') AS approvals
  FROM approvals a
 WHERE a.team_id = $1 AND a.status = 'pending' AND a.expires_at > now()
"""


def _pending(row: asyncpg.Record) -> PendingApproval:
    return PendingApproval(
        txn_id=row["txn_id"],
        team_id=row["team_id"],
        agent_id=row["agent_id"],
        credential_name=row["credential_name"],
        method=row["method"],
        target_url=row["target_url"],
        body_preview=row["body_preview"],
        require_passkey=row["require_passkey"],
        min_approvals=row["min_approvals"],
        allowed_approvers=tuple(row["allowed_approvers"]),
        approvals=row["approvals"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


async def list_pending(conn: Conn, team_id: str) -> list[PendingApproval]:
    """Pending, unexpired requests of a team, newest first."""
    rows = await conn.fetch(_PENDING + " ORDER BY a.created_at DESC", team_id)
    return [_pending(row) for row in rows]


async def get_pending(conn: Conn, team_id: str, txn_id: uuid.UUID) -> PendingApproval:
    """Raises ApprovalNotFound, or AlreadyDecided if it exists but is no longer pending."""
    row = await conn.fetchrow(_PENDING + " AND a.txn_id = $2", team_id, txn_id)
    if row is None:
        status = await conn.fetchval(
            "SELECT status FROM approvals WHERE team_id = $1 AND txn_id = $2", team_id, txn_id
        )
        if status is None:
            raise ApprovalNotFound(f"no approval request {txn_id} in this team")
        raise AlreadyDecided(f"request {txn_id} is already {status}")
    return _pending(row)


def parse_txn_id(raw: str) -> uuid.UUID:
    """Raises ApprovalNotFound for anything that is not a UUID (no such request can exist)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApprovalNotFound(f"no approval request {raw!r}") from None


async def vote(
    conn: Conn,
    *,
    team_id: str,
    txn_id: uuid.UUID,
    voter: str,
    decision: Decision,
    via: Via,
) -> VoteResult:
    """Record ``voter``'s decision and resolve the request if it is now decided.

    Must run inside a transaction. ``voter`` is an email for people, or
    ``operator`` for the CLI. Raises ApprovalNotFound, AlreadyDecided,
    NotAnApprover, or PasskeyRequired (approve without the passkey step).
    """
    row = await conn.fetchrow(
        "SELECT status, require_passkey, min_approvals, allowed_approvers, expires_at"
        "  FROM approvals WHERE team_id = $1 AND txn_id = $2 FOR UPDATE",
        team_id,
        txn_id,
    )
    if row is None:
        raise ApprovalNotFound(f"no approval request {txn_id} in this team")
    if row["status"] != "pending" or row["expires_at"] <= dt.datetime.now(dt.UTC):
        raise AlreadyDecided(
            f"request {txn_id} is already {row['status'] if row['status'] != 'pending' else 'expired'}"
        )
    allowed = tuple(a.lower() for a in row["allowed_approvers"])
    if allowed and via != "cli" and voter.lower() not in allowed:
        raise NotAnApprover("you are not one of this credential's allowed approvers")
    if decision == "approve" and row["require_passkey"] and via not in ("passkey", "cli"):
        raise PasskeyRequired("this credential requires approval with a passkey")
    await conn.execute(
        "INSERT INTO approval_votes (txn_id, voter, decision) VALUES ($1, $2, $3)"
        " ON CONFLICT (txn_id, voter) DO UPDATE SET decision = EXCLUDED.decision, created_at = now()",
        txn_id,
        voter.lower(),
        decision,
    )
    approvals = await conn.fetchval(
        "SELECT count(*) FROM approval_votes WHERE txn_id = $1 AND decision = 'approve'", txn_id
    )
    # The operator at the CLI holds the database itself; one operator decision settles it.
    needed = 1 if via == "cli" else row["min_approvals"]
    if decision == "deny":
        new_status = "denied"
    elif approvals >= needed:
        new_status = "approved"
    else:
        return VoteResult(status="pending", approvals=approvals, needed=needed)
    changed = await conn.fetchval(
        "UPDATE approvals SET status = $3, resolved_by = $4, resolved_at = now()"
        " WHERE team_id = $1 AND txn_id = $2 AND status = 'pending' RETURNING txn_id",
        team_id,
        txn_id,
        new_status,
        voter.lower(),
    )
    if changed is None:
        raise AlreadyDecided(f"request {txn_id} was decided concurrently")
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(txn_id))
    return VoteResult(status=new_status, approvals=approvals, needed=needed)


# The operator at the CLI -------------------------------------------------------------
#
# The operator counts as ONE eligible vote, and only where the policy lets
# anyone decide: no allowed_approvers, one approval needed, no passkey. Any
# other request is refused unless the operator breaks glass with a reason; the
# override is logged and recorded as the decider, so the audit record of the
# request (approver_identity) names it.


def operator_refusal(pending: PendingApproval, decision: Decision) -> str | None:
    """Why the operator's one vote cannot decide ``pending`` under its policy, or None."""
    if pending.allowed_approvers:
        return "its policy names the people who may decide it"
    if decision == "approve" and pending.require_passkey:
        return "its policy requires a passkey to approve"
    if decision == "approve" and pending.min_approvals > 1:
        return f"it needs {pending.min_approvals} approvals"
    return None


def break_glass_voter(reason: str) -> str:
    """The recorded decider of a break-glass decision. Raises InvalidInput for an unusable reason."""
    text = " ".join(reason.split())
    if not text:
        raise InvalidInput("reason", "a break-glass decision needs a reason")
    if len(text) > MAX_REASON_CHARS or any(ord(c) < 32 for c in text):
        raise InvalidInput("reason", f"at most {MAX_REASON_CHARS} printable characters")
    return f"{OPERATOR} (break-glass: {text})"


async def decide_as_operator(
    conn: Conn,
    *,
    team_id: str,
    txn_id: uuid.UUID,
    decision: Decision,
    break_glass_reason: str | None = None,
) -> VoteResult:
    """The CLI operator's decision, under the same rules as every other voter.

    Must run inside a transaction. Raises ApprovalNotFound, AlreadyDecided,
    InvalidInput (an empty reason), or OperatorNotEligible when the policy does
    not let the operator's one vote decide and no break-glass reason is given.
    """
    voter = OPERATOR if break_glass_reason is None else break_glass_voter(break_glass_reason)
    pending = await get_pending(conn, team_id, txn_id)
    refusal = operator_refusal(pending, decision)
    if refusal is not None and break_glass_reason is None:
        raise OperatorNotEligible(f"request {txn_id} cannot be decided by the operator: {refusal}")
    if refusal is not None:
        logger.warning(
            "break-glass %s of request %s in team %s (%s)", decision, txn_id, team_id, refusal
        )
    return await vote(
        conn, team_id=team_id, txn_id=txn_id, voter=voter, decision=decision, via="cli"
    )
