"""A decision made in a chat: the one path from a button or reaction to the state machine.

Every chat channel calls :func:`decide`. It finds the request's team, turns
the chat account into a member through its *verified* link, applies the same
eligibility rule as the API (:mod:`app.approvals.eligibility`), refuses to
approve a passkey-required request (only the approve page can), and votes
through :func:`app.approvals.decisions.vote`, so quorum, ``allowed_approvers``
and idempotence are exactly the API's. What the chat account learns is a
short verdict; it never learns whether an unrelated request exists.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg

from app.approvals import decisions, eligibility
from app.approvals.decisions import Decision, Via
from app.channels import identities
from app.errors import AlreadyDecided, ApprovalNotFound, NotAnApprover, PasskeyRequired
from app.store import db, outbox

logger = logging.getLogger(__name__)

VerdictCode = Literal[
    "recorded", "not_linked", "not_authorized", "passkey_required", "already_decided", "unknown"
]


@dataclass(frozen=True, slots=True)
class Verdict:
    code: VerdictCode
    text: str
    """One line to show the chat account."""
    status: str | None = None
    """The request's status after a recorded vote (``pending``, ``approved``, ``denied``)."""
    approvals: int = 0
    needed: int = 1
    decided_by: str | None = None


NOT_AUTHORIZED = "You are not authorized to decide this request."


async def decide(
    pool: asyncpg.Pool,
    *,
    kind: Via,
    external_id: str,
    txn_id: uuid.UUID,
    decision: Decision,
) -> Verdict:
    """Vote as the member linked to ``external_id`` on ``kind``. Never raises for a refusal."""
    async with db.transaction(pool) as conn:
        team_id = await outbox.team_of(conn, kind=kind, txn_id=txn_id)
        if team_id is None:
            return Verdict("unknown", "This request is unknown or no longer available.")
        member = await identities.member_for(
            conn, team_id=team_id, kind=kind, external_id=external_id
        )
        if member is None:
            logger.info("%s account without a link in team %s refused on %s", kind, team_id, txn_id)
            return Verdict(
                "not_linked",
                f"{NOT_AUTHORIZED} Link your {kind} account to your TAP account first.",
            )
        try:
            pending = await decisions.get_pending(conn, team_id, txn_id)
        except (ApprovalNotFound, AlreadyDecided):
            return Verdict("already_decided", "This request was already decided or has expired.")
        if not await eligibility.may_decide(
            conn,
            team_id=team_id,
            user_id=member.user_id,
            email=member.email,
            role=member.member_role,
            credential_names=pending.credential_names,
            allowed_approvers=pending.allowed_approvers,
        ):
            logger.info("member %s may not decide %s (via %s)", member.user_id, txn_id, kind)
            return Verdict("not_authorized", NOT_AUTHORIZED)
        try:
            result = await decisions.vote(
                conn,
                team_id=team_id,
                txn_id=txn_id,
                voter=member.email,
                decision=decision,
                via=kind,
            )
        except PasskeyRequired:
            # NOTE: a forged approve callback for a passkey request ends here.
            return Verdict(
                "passkey_required", "This request needs a passkey: open the approval page."
            )
        except NotAnApprover:
            return Verdict("not_authorized", NOT_AUTHORIZED)
        except AlreadyDecided:
            return Verdict("already_decided", "This request was already decided or has expired.")
    if result.status == "pending":
        text = f"{result.approvals}/{result.needed} approved, waiting for more."
    else:
        text = "Approved." if result.status == "approved" else "Denied."
    logger.info("request %s: %s vote by member %s via %s", txn_id, decision, member.user_id, kind)
    return Verdict(
        "recorded",
        text,
        status=result.status,
        approvals=result.approvals,
        needed=result.needed,
        decided_by=member.email,
    )


async def link(
    pool: asyncpg.Pool, *, kind: str, code: str, external_id: str, display: str | None
) -> bool:
    """Redeem a link code sent by a chat account; True when the account is now linked."""
    async with db.transaction(pool) as conn:
        linked = await identities.redeem(
            conn, kind=kind, code=code, external_id=external_id, display=display
        )
    if linked is not None:
        logger.info("%s account linked to user %s", kind, linked.user_id)
    return linked is not None
