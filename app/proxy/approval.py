"""Stage 7: park a request that needs a human, and answer 202 at once.

The request (what the agent sent, before any secret is injected) is stored in
a durable Postgres row with its mode and credential names, so the executor
forwards exactly what was approved, through the same stages; the agent gets a
transaction id to poll. Whoever decides, through whichever surface, resolves
that row; the executor then forwards it exactly once
(:mod:`app.approvals.executor`). Parking is capped per agent and per team
(count and bytes), atomically, so waiting requests cannot fill the database.
In the same transaction the request's notifications are queued in the
channel outbox (:mod:`app.channels.routing` picks the channels).
"""

from __future__ import annotations

import datetime as dt
import uuid

from app.channels import routing
from app.errors import PasskeyUnavailable, TooManyPending
from app.passkeys.relying_party import RelyingParty
from app.proxy.context import ForwardContext
from app.proxy.inject import injected_header_names
from app.store import approvals, channels, db, outbox
from app.store.approvals import CapReached, NewRequest, PendingCaps

_CAP_MESSAGES = {
    "agent": "This agent already has {limit} requests waiting for approval.",
    "team": "This team already has {limit} requests waiting for approval.",
    "team_bytes": "Requests waiting for approval in this team already hold {limit} bytes of bodies.",
}


class ApprovalRequired(Exception):  # noqa: N818 - control flow, not an error
    """Raised to stop the pipeline: the request now waits for a decision."""

    def __init__(self, txn_id: uuid.UUID, expires_at: dt.datetime, route: routing.Route) -> None:
        super().__init__(str(txn_id))
        self.txn_id = txn_id
        self.expires_at = expires_at
        self.route = route


def new_request(ctx: ForwardContext) -> NewRequest:
    """The row to park for ``ctx``: the request as the agent sent it, and how to forward it."""
    agent = ctx.agent
    assert agent is not None
    first = ctx.credentials[0]
    policy = ctx.policies.get(first.name)
    unified = ctx.credential_name is not None
    return NewRequest(
        txn_id=ctx.request_id,
        team_id=agent.team_id,
        agent_id=agent.id,
        mode="unified" if unified else "placeholder",
        credential_names=tuple(c.name for c in ctx.credentials),
        injected_headers=injected_header_names(first) if unified else (),
        method=ctx.method,
        target_url=ctx.raw_target,
        headers=ctx.forward_headers,
        body=ctx.body,
        policy_reason=ctx.policy_reason,
        require_passkey=ctx.require_passkey,
        min_approvals=policy.min_approvals if policy else 1,
        allowed_approvers=policy.allowed_approvers if policy else (),
        auth_mode=ctx.auth_mode,
        timeout_secs=ctx.rt.config.approval_timeout_secs,
    )


async def run(ctx: ForwardContext) -> ForwardContext:
    if not ctx.needs_approval:
        return ctx
    config = ctx.rt.config
    if ctx.require_passkey and RelyingParty.from_config(config) is None:
        raise PasskeyUnavailable(
            "This request needs a passkey approval, and passkeys are not set up on this TAP."
        )
    caps = PendingCaps(
        per_agent=config.max_pending_per_agent,
        per_team=config.max_pending_per_team,
        bytes_per_team=config.max_pending_bytes_per_team,
    )
    request = new_request(ctx)
    policy = ctx.policies.get(ctx.credentials[0].name)
    # NOTE: the outbox rows commit with the request or not at all; delivery
    # happens later, off this path, so no channel can delay or fail the 202.
    async with db.transaction(ctx.rt.pool) as conn:
        parked = await approvals.create(conn, request, caps)
        if isinstance(parked, CapReached):
            route = None
        else:
            route = routing.choose(config, policy, await channels.list_team(conn, request.team_id))
            for delivery in route.deliveries:
                await outbox.add(
                    conn,
                    txn_id=request.txn_id,
                    team_id=request.team_id,
                    kind=delivery.kind,
                    channel_name=delivery.channel_name,
                    destination=delivery.destination,
                )
    if isinstance(parked, CapReached):
        raise TooManyPending(
            _CAP_MESSAGES[parked.scope].format(limit=parked.limit),
            cap=parked.scope,
            limit=parked.limit,
        )
    assert route is not None
    raise ApprovalRequired(ctx.request_id, parked, route)
