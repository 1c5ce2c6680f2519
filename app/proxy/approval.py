"""Stage 7: park a request that needs a human, and answer 202 at once.

The request (what the agent sent, before any secret is injected) is stored in
a durable Postgres row; the agent gets a transaction id to poll. Whoever
decides, through whichever surface, resolves that row; the executor then
forwards it exactly once (:mod:`app.approvals.executor`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Final

from app.errors import PasskeyUnavailable
from app.passkeys.relying_party import RelyingParty
from app.proxy.context import ForwardContext
from app.store import approvals, db

PREVIEW_BYTES: Final = 500


class ApprovalRequired(Exception):  # noqa: N818 - control flow, not an error
    """Raised to stop the pipeline: the request now waits for a decision."""

    def __init__(self, txn_id: uuid.UUID, expires_at: dt.datetime) -> None:
        super().__init__(str(txn_id))
        self.txn_id = txn_id
        self.expires_at = expires_at


def body_preview(body: bytes) -> str | None:
    """The first bytes of a UTF-8 body, for the human deciding; None for binary."""
    if not body:
        return None
    try:
        return body[:PREVIEW_BYTES].decode("utf-8")
    except UnicodeDecodeError as exc:
        return body[: exc.start].decode("utf-8") or None


async def run(ctx: ForwardContext) -> ForwardContext:
    if not ctx.needs_approval:
        return ctx
    if ctx.require_passkey and RelyingParty.from_config(ctx.rt.config) is None:
        raise PasskeyUnavailable(
            "This request needs a passkey approval, and passkeys are not set up on this TAP."
        )
    agent = ctx.agent
    assert agent is not None
    credential = ctx.credentials[0]
    policy = ctx.policies.get(credential.name)
    with db.translate_errors():
        expires_at = await approvals.create(
            ctx.rt.pool,
            txn_id=ctx.request_id,
            team_id=agent.team_id,
            agent_id=agent.id,
            credential_name=",".join(c.name for c in ctx.credentials),
            method=ctx.method,
            target_url=ctx.raw_target,
            headers=ctx.forward_headers,
            body=ctx.body,
            body_preview=body_preview(ctx.body),
            policy_reason=ctx.policy_reason,
            require_passkey=ctx.require_passkey,
            min_approvals=policy.min_approvals if policy else 1,
            allowed_approvers=policy.allowed_approvers if policy else (),
            timeout_secs=ctx.rt.config.approval_timeout_secs,
        )
    raise ApprovalRequired(ctx.request_id, expires_at)
