"""Build what channels show from the stored request: the one place a Notice or Outcome is made."""

from __future__ import annotations

import uuid

from app.approvals import decisions
from app.channels.base import Notice, Outcome
from app.config import Config
from app.store.db import Conn

DECIDED_APPROVED = frozenset({"approved", "forwarding", "forwarded", "error"})


def approve_url(config: Config, txn_id: uuid.UUID) -> str:
    return f"{config.links_base_url}/approve/txn/{txn_id}"


async def notice_for(
    conn: Conn,
    config: Config,
    *,
    team_id: str,
    txn_id: uuid.UUID,
    channel_name: str,
    destination: dict[str, object],
) -> Notice:
    """The notice of a pending request. Raises ApprovalNotFound or AlreadyDecided."""
    pending = await decisions.get_pending(conn, team_id, txn_id)
    return Notice(
        txn_id=pending.txn_id,
        team_id=pending.team_id,
        agent_id=pending.agent_id,
        credential_name=pending.credential_name,
        method=pending.method,
        target_url=pending.target_url,
        body_preview=pending.body_preview,
        require_passkey=pending.require_passkey,
        min_approvals=pending.min_approvals,
        approve_url=approve_url(config, txn_id),
        expires_at=pending.expires_at,
        channel_name=channel_name,
        channel_config=dict(destination),
        credential_names=pending.credential_names,
        allowed_approvers=pending.allowed_approvers,
    )


def outcome_of(status: str, resolved_by: str | None, *, expired: bool) -> Outcome:
    """How a request ended, from its stored status (an approved request may already be forwarded)."""
    if status in DECIDED_APPROVED:
        return Outcome(status="approved", decided_by=resolved_by)
    if status == "denied":
        return Outcome(status="denied", decided_by=resolved_by)
    if status == "pending" and not expired:
        return Outcome(status="pending", decided_by=None)
    return Outcome(status="expired", decided_by=None)
