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
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from app.approvals import view
from app.errors import (
    AlreadyDecided,
    ApprovalNotFound,
    InvalidInput,
    NotAnApprover,
    OperatorNotEligible,
    PasskeyRequired,
)
from app.store import approvals, votes
from app.store.approvals import Mode, StoredRequest
from app.store.db import Conn

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL: Final = votes.NOTIFY_CHANNEL
OPERATOR: Final = "operator"
MAX_REASON_CHARS: Final = 500

Decision = Literal["approve", "deny"]
Via = Literal["cli", "api", "passkey", "telegram", "matrix", "dashboard"]


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """A request waiting for a decision, as every decision surface shows it."""

    txn_id: uuid.UUID
    team_id: str
    agent_id: str
    mode: Mode
    credential_names: tuple[str, ...]
    method: str
    target_url: str
    headers: list[tuple[str, str]]
    """Every header that will go upstream, secrets masked."""
    body: view.BodyView
    warnings: list[view.ApprovalWarning]
    require_passkey: bool
    min_approvals: int
    allowed_approvers: tuple[str, ...]
    approvals: int
    created_at: dt.datetime
    expires_at: dt.datetime

    @property
    def credential_name(self) -> str:
        """The credentials used, comma-separated, for one-line displays."""
        return ",".join(self.credential_names)

    @property
    def body_preview(self) -> str | None:
        return self.body.preview

    def to_json(self) -> dict[str, Any]:
        """The one JSON shape of a pending request (admin API, CLI): plain JSON types."""
        return {
            "txn_id": str(self.txn_id),
            "agent_id": self.agent_id,
            "mode": self.mode,
            "credential_name": self.credential_name,
            "credential_names": list(self.credential_names),
            "method": self.method,
            "target_url": self.target_url,
            "headers": [[name, value] for name, value in self.headers],
            "body_preview": self.body.preview,
            "body_encoding": self.body.encoding,
            "body_truncated": self.body.truncated,
            "body_size": self.body.size,
            "body_sha256": self.body.sha256,
            "warnings": [asdict(w) for w in self.warnings],
            "require_passkey": self.require_passkey,
            "min_approvals": self.min_approvals,
            "approvals": self.approvals,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class VoteResult:
    status: str
    """``pending`` (more votes needed), ``approved`` or ``denied``."""
    approvals: int
    needed: int


def _pending(stored: StoredRequest, approvals_count: int) -> PendingApproval:
    headers = view.upstream_headers(
        stored.headers, stored.injected_headers, stored.credential_names[0]
    )
    return PendingApproval(
        txn_id=stored.txn_id,
        team_id=stored.team_id,
        agent_id=stored.agent_id,
        mode=stored.mode,
        credential_names=stored.credential_names,
        method=stored.method,
        target_url=stored.target_url,
        headers=headers,
        body=view.body_view(stored.body, size=stored.body_size, sha256=stored.body_sha256),
        warnings=view.warnings(stored.method, headers),
        require_passkey=stored.require_passkey,
        min_approvals=stored.min_approvals,
        allowed_approvers=stored.allowed_approvers,
        approvals=approvals_count,
        created_at=stored.created_at,
        expires_at=stored.expires_at,
    )


async def list_pending(conn: Conn, team_id: str) -> list[PendingApproval]:
    """Pending, unexpired requests of a team, newest first."""
    rows = await approvals.pending_rows(conn, team_id, view.PREVIEW_BYTES)
    return [_pending(stored, count) for stored, count in rows]


async def get_pending(conn: Conn, team_id: str, txn_id: uuid.UUID) -> PendingApproval:
    """Raises ApprovalNotFound, or AlreadyDecided if it exists but is no longer pending."""
    rows = await approvals.pending_rows(conn, team_id, view.PREVIEW_BYTES, txn_id)
    if not rows:
        status = await approvals.status_of(conn, team_id, txn_id)
        if status is None:
            raise ApprovalNotFound(f"no approval request {txn_id} in this team")
        raise AlreadyDecided(f"request {txn_id} is already {status}")
    return _pending(*rows[0])


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
    ballot = await votes.lock_for_vote(conn, team_id, txn_id)
    if ballot is None:
        raise ApprovalNotFound(f"no approval request {txn_id} in this team")
    if ballot.status != "pending" or ballot.expires_at <= dt.datetime.now(dt.UTC):
        raise AlreadyDecided(
            f"request {txn_id} is already {ballot.status if ballot.status != 'pending' else 'expired'}"
        )
    allowed = tuple(a.lower() for a in ballot.allowed_approvers)
    if allowed and via != "cli" and voter.lower() not in allowed:
        raise NotAnApprover("you are not one of this credential's allowed approvers")
    if decision == "approve" and ballot.require_passkey and via not in ("passkey", "cli"):
        raise PasskeyRequired("this credential requires approval with a passkey")
    approvals_count = await votes.record(conn, txn_id, voter.lower(), decision)
    # The operator at the CLI holds the database itself; one operator decision settles it.
    needed = 1 if via == "cli" else ballot.min_approvals
    if decision == "deny":
        new_status = "denied"
    elif approvals_count >= needed:
        new_status = "approved"
    else:
        return VoteResult(status="pending", approvals=approvals_count, needed=needed)
    if not await votes.resolve(conn, team_id, txn_id, new_status, voter.lower()):
        raise AlreadyDecided(f"request {txn_id} was decided concurrently")
    return VoteResult(status=new_status, approvals=approvals_count, needed=needed)


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
