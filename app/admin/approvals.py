"""``/team/approvals``: pending requests the caller may decide, and their votes.

Eligibility (checked here, inside the voting transaction): the request
belongs to the caller's active team; owners and admins may decide any
credential, approvers only credentials assigned to them (others are invisible:
404). ``allowed_approvers``, ``min_approvals`` and ``require_passkey`` are
enforced by the shared state machine in :mod:`app.approvals.decisions`, which
counts one vote per person and resolves in the transaction that reaches the
quorum. Agents hold no session, so an agent key can never reach this module.
"""

from __future__ import annotations

import uuid

from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, respond
from app.admin.schemas import ApprovalList, ApprovalOut, VoteOut
from app.approvals import decisions, eligibility
from app.approvals.decisions import Decision, Via
from app.errors import ApprovalNotFound
from app.store import db, votes
from app.store.db import Conn
from app.webstate import runtime

blueprint = Blueprint("approvals", __name__)

_TXN = {"txn_id": "^[0-9a-fA-F-]{32,36}$"}


async def can_decide(conn: Conn, caller: Caller, pending: decisions.PendingApproval) -> bool:
    return await eligibility.may_decide(
        conn,
        team_id=caller.team_id,
        user_id=caller.user_id,
        email=caller.email,
        role=caller.role,
        credential_names=pending.credential_names,
        allowed_approvers=pending.allowed_approvers,
    )


async def _assigned(conn: Conn, caller: Caller, credential_names: tuple[str, ...]) -> bool:
    return await eligibility.covers_credentials(
        conn,
        team_id=caller.team_id,
        user_id=caller.user_id,
        role=caller.role,
        credential_names=credential_names,
    )


def approval_out(pending: decisions.PendingApproval) -> ApprovalOut:
    return ApprovalOut.model_validate(pending.to_json())


@operation(
    blueprint,
    "GET",
    "/team/approvals",
    summary="Pending requests the caller may decide, newest first.",
    responses={200: ApprovalList},
    errors=SESSION_ERRORS,
    permission="approve_requests",
)
async def list_approvals(caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        pending = await decisions.list_pending(conn, caller.team_id)
        visible = [p for p in pending if await can_decide(conn, caller, p)]
        voters = await votes.approvers_of(conn, caller.team_id, [p.txn_id for p in visible])
    return respond(
        ApprovalList(
            approvals=[
                approval_out(p).model_copy(update={"approved_by": voters.get(p.txn_id, [])})
                for p in visible
            ]
        )
    )


async def cast_vote(
    caller: Caller, raw_txn: str, decision: Decision, *, via: Via
) -> tuple[uuid.UUID, decisions.VoteResult]:
    """A member's vote with their session alone (no passkey step), on any surface.

    Raises ApprovalNotFound (no such request, or one the caller may not see),
    AlreadyDecided, NotAnApprover, or PasskeyRequired.
    """
    txn_id = decisions.parse_txn_id(raw_txn)
    async with db.transaction(runtime().pool) as conn:
        pending = await decisions.get_pending(conn, caller.team_id, txn_id)
        if not await _assigned(conn, caller, pending.credential_names):
            # NOTE: invisible rather than forbidden, as in the list.
            raise ApprovalNotFound(f"no approval request {txn_id} in this team")
        result = await decisions.vote(
            conn,
            team_id=caller.team_id,
            txn_id=txn_id,
            voter=caller.email,
            decision=decision,
            via=via,
        )
    return txn_id, result


async def _decide(caller: Caller, raw_txn: str, decision: Decision) -> Response:
    txn_id, result = await cast_vote(caller, raw_txn, decision, via="api")
    return respond(
        VoteOut(
            txn_id=str(txn_id),
            decision=decision,
            status=result.status,
            approvals=result.approvals,
            needed=result.needed,
        )
    )


@operation(
    blueprint,
    "POST",
    "/team/approvals/<txn_id>/approve",
    summary="Vote to approve; the request is approved when min_approvals distinct members agree.",
    responses={200: VoteOut},
    errors=(404, 409, 412, *SESSION_ERRORS),
    path_patterns=_TXN,
    permission="approve_requests",
)
async def approve(txn_id: str, caller: Caller) -> Response:
    return await _decide(caller, txn_id, "approve")


@operation(
    blueprint,
    "POST",
    "/team/approvals/<txn_id>/deny",
    summary="Deny; any eligible deny ends the request.",
    responses={200: VoteOut},
    errors=(404, 409, *SESSION_ERRORS),
    path_patterns=_TXN,
    permission="approve_requests",
)
async def deny(txn_id: str, caller: Caller) -> Response:
    return await _decide(caller, txn_id, "deny")
