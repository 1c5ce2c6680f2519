"""Deciding one request from the approve page: passkey approvals bound to the exact request.

``POST /approve/txn/{id}/begin`` builds the request's canonical form
(:mod:`app.passkeys.canonical`) for this approver and asks their own passkeys
to sign its digest; ``/finish`` takes that challenge (single use), rebuilds
the canonical request from the current state and refuses if anything it
names changed, verifies the assertion, then stores the evidence and counts
the vote in one transaction. The vote goes through the same state machine as
every other surface (:mod:`app.approvals.decisions`): quorum,
``allowed_approvers`` and ``require_passkey`` are not re-implemented here.

The one-tap ``/approve/dashboard/{id}/approve`` never satisfies
``require_passkey`` (412); a deny never needs a passkey; a decision on a
request that is no longer pending is 409.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any, Final, Literal

from quart import Blueprint, Response, request

from app.admin.approvals import can_decide, cast_vote
from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, respond
from app.admin.passkey_schemas import (
    ApprovalBegin,
    ApprovalDetails,
    Decided,
    EvidenceEntry,
    EvidenceOut,
    PendingItem,
    PendingList,
)
from app.admin.passkeys import check_assertion, passkeys_enabled, relying_party
from app.approvals import decisions
from app.errors import (
    AlreadyDecided,
    ApprovalGone,
    ApprovalNotFound,
    NoPasskeys,
    NotAllowedToDecide,
    RequestChanged,
    StaleChallenge,
    TapError,
    ValidationFailed,
)
from app.passkeys import evidence as evidence_check
from app.passkeys.canonical import CanonicalRequest, new_nonce, timestamp
from app.passkeys.relying_party import RelyingParty
from app.proxy.target import resolve_target
from app.store import challenges, db, passkeys
from app.store import evidence as evidence_store
from app.store.db import Conn
from app.store.forward import config_for
from app.webstate import runtime

logger = logging.getLogger(__name__)

blueprint = Blueprint("approve", __name__)

CHALLENGE_TTL: Final = dt.timedelta(minutes=5)
_TXN: Final = {"txn_id": "^[0-9a-fA-F-]{32,36}$"}
_NO_STORE: Final = "no-store"


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = _NO_STORE
    return response


async def _decidable(conn: Conn, caller: Caller, raw_txn: str) -> decisions.PendingApproval:
    """The pending request ``raw_txn`` of the caller's team, if they may decide it.

    Raises ApprovalGone (missing, decided or expired: nothing to decide) or
    NotAllowedToDecide.
    """
    txn_id = decisions.parse_txn_id(raw_txn)
    try:
        pending = await decisions.get_pending(conn, caller.team_id, txn_id)
    except (ApprovalNotFound, AlreadyDecided):
        raise ApprovalGone("this request expired or was already resolved") from None
    if not await can_decide(conn, caller, pending):
        raise NotAllowedToDecide("you may not decide this request")
    return pending


async def _canonical(
    conn: Conn,
    pending: decisions.PendingApproval,
    *,
    approver: str,
    nonce: str,
) -> CanonicalRequest:
    """The request as it would be forwarded now, for ``approver``.

    NOTE: the target is the effective URL (a relative target resolved against
    the credential's current ``api_base``), so re-pointing the credential
    after the challenge was made changes the canonical request.
    """
    first = pending.credential_names[0]
    found = await config_for(conn, pending.team_id, first)
    if found is None:
        raise RequestChanged(f"credential '{first}' no longer exists")
    try:
        target = resolve_target(pending.target_url, found.credential).url
    except TapError:
        raise RequestChanged("the request's target no longer resolves for its credential") from None
    return CanonicalRequest(
        txn_id=str(pending.txn_id),
        team_id=pending.team_id,
        agent_id=pending.agent_id,
        credential=pending.credential_name,
        method=pending.method,
        target_url=target,
        body_sha256=pending.body.sha256,
        approver=approver.lower(),
        expires_at=timestamp(pending.expires_at),
        nonce=nonce,
    )


@operation(
    blueprint,
    "GET",
    "/approve/txn/<txn_id>/details",
    summary="What the approve page shows: agent, credential, method, target, body preview.",
    responses={200: ApprovalDetails},
    errors=(410, *SESSION_ERRORS),
    path_patterns=_TXN,
    permission="approve_requests",
)
async def details(txn_id: str, caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        pending = await _decidable(conn, caller, txn_id)
        has_passkeys = await passkeys.count(conn, caller.user_id) > 0
    return _no_store(
        respond(
            ApprovalDetails(
                **pending.to_json(),
                team_id=pending.team_id,
                has_passkeys=has_passkeys,
                passkeys_enabled=passkeys_enabled(),
            )
        )
    )


@operation(
    blueprint,
    "POST",
    "/approve/txn/<txn_id>/begin",
    summary="A passkey challenge whose value is the SHA-256 of this request's canonical form.",
    responses={200: ApprovalBegin},
    errors=(404, 409, 410, 412, *SESSION_ERRORS),
    path_patterns=_TXN,
    permission="approve_requests",
)
async def begin(txn_id: str, caller: Caller) -> Response:
    rp = relying_party()
    async with db.transaction(runtime().pool) as conn:
        pending = await _decidable(conn, caller, txn_id)
        mine = await passkeys.of_user(conn, caller.user_id)
        if not mine:
            raise NoPasskeys("register a passkey first")
        canonical = await _canonical(conn, pending, approver=caller.email, nonce=new_nonce())
        options, challenge = rp.assertion_options(mine, canonical.challenge())
        await challenges.put(
            conn,
            purpose="approve",
            subject=str(pending.txn_id),
            user_id=caller.user_id,
            challenge=challenge,
            payload=canonical.text(),
            expires_at=min(pending.expires_at, dt.datetime.now(dt.UTC) + CHALLENGE_TTL),
        )
    return _no_store(respond(ApprovalBegin(challenge=options, canonical_request=canonical.text())))


async def _assertion_json() -> dict[str, Any]:
    """The finish body: the assertion itself, or ``{"credential": assertion}``."""
    data = await request.get_json(force=True, silent=True)
    if isinstance(data, dict) and isinstance(data.get("credential"), dict) and len(data) == 1:
        data = data["credential"]
    if not isinstance(data, dict) or not isinstance(data.get("response"), dict):
        raise ValidationFailed("the body must be a WebAuthn assertion (PublicKeyCredential JSON)")
    return data


@operation(
    blueprint,
    "POST",
    "/approve/txn/<txn_id>/finish",
    summary="Approve with the passkey assertion for this request's challenge; the evidence is kept.",
    responses={200: Decided},
    errors=(400, 404, 409, 410, 412, *SESSION_ERRORS),
    path_patterns=_TXN,
    permission="approve_requests",
)
async def finish(txn_id: str, caller: Caller) -> Response:
    rp = relying_party()
    credential = await _assertion_json()
    txn = decisions.parse_txn_id(txn_id)
    # (1) the challenge made for this request and this approver, once; taken on
    # its own connection so that a refused answer spends it too
    slot = await challenges.take(
        runtime().pool, purpose="approve", subject=str(txn), user_id=caller.user_id
    )
    async with db.transaction(runtime().pool) as conn:
        pending = await _decidable(conn, caller, txn_id)
        if slot is None or slot.payload is None:
            raise StaleChallenge("no approval in progress for this request; begin again")
        result = await _approve_with_passkey(conn, rp, caller, pending, slot, credential)
    logger.info("request %s approved with a passkey by user %s", pending.txn_id, caller.user_id)
    return _decided(pending.txn_id, caller, result)


def _decided(txn_id: uuid.UUID, caller: Caller, result: decisions.VoteResult) -> Response:
    return respond(
        Decided(
            txn_id=str(txn_id),
            status=result.status,
            approver=caller.email,
            approvals=result.approvals,
            needed=result.needed,
        )
    )


async def _approve_with_passkey(
    conn: Conn,
    rp: RelyingParty,
    caller: Caller,
    pending: decisions.PendingApproval,
    slot: challenges.Challenge,
    credential: dict[str, Any],
) -> decisions.VoteResult:
    assert slot.payload is not None
    signed = CanonicalRequest.parse(slot.payload)
    # (2) the request is still the one the challenge describes
    current = await _canonical(conn, pending, approver=caller.email, nonce=signed.nonce)
    if current.text() != slot.payload:
        raise RequestChanged("the request changed after the challenge was made; review it again")
    # (3) the caller's own passkey signed exactly that challenge
    passkey, assertion = await check_assertion(
        conn, rp, user_id=caller.user_id, credential=credential, challenge=slot.challenge
    )
    # (4) the evidence and the vote, in one transaction
    await evidence_store.add(
        conn,
        txn_id=pending.txn_id,
        team_id=pending.team_id,
        approver=caller.email.lower(),
        canonical_request=slot.payload,
        credential_id=passkey.id,
        public_key=passkey.public_key,
        authenticator_data=assertion.authenticator_data,
        client_data_json=assertion.client_data_json,
        signature=assertion.signature,
    )
    return await decisions.vote(
        conn,
        team_id=pending.team_id,
        txn_id=pending.txn_id,
        voter=caller.email,
        decision="approve",
        via="passkey",
    )


async def _session_decision(
    caller: Caller, raw_txn: str, decision: Literal["approve", "deny"]
) -> Response:
    decisions.parse_txn_id(raw_txn)  # not an id at all: 404, like every other route
    try:
        txn_id, result = await cast_vote(caller, raw_txn, decision, via="dashboard")
    except ApprovalNotFound:
        raise ApprovalGone("this request expired or no longer exists") from None
    return _decided(txn_id, caller, result)


@operation(
    blueprint,
    "POST",
    "/approve/txn/<txn_id>/deny",
    summary="Deny from the approve page (no passkey needed); 409 once the request is decided.",
    responses={200: Decided},
    errors=(404, 409, 410, *SESSION_ERRORS),
    path_patterns=_TXN,
    permission="approve_requests",
)
async def deny(txn_id: str, caller: Caller) -> Response:
    return await _session_decision(caller, txn_id, "deny")


@operation(
    blueprint,
    "POST",
    "/approve/dashboard/<txn_id>/approve",
    summary="One-tap approve with the session alone; 412 where the policy requires a passkey.",
    responses={200: Decided},
    errors=(404, 409, 410, 412, *SESSION_ERRORS),
    path_patterns=_TXN,
    permission="approve_requests",
)
async def dashboard_approve(txn_id: str, caller: Caller) -> Response:
    return await _session_decision(caller, txn_id, "approve")


@operation(
    blueprint,
    "POST",
    "/approve/dashboard/<txn_id>/deny",
    summary="One-tap deny; 409 once the request is decided.",
    responses={200: Decided},
    errors=(404, 409, 410, *SESSION_ERRORS),
    path_patterns=_TXN,
    permission="approve_requests",
)
async def dashboard_deny(txn_id: str, caller: Caller) -> Response:
    return await _session_decision(caller, txn_id, "deny")


@operation(
    blueprint,
    "GET",
    "/approve/pending",
    summary="The caller's inbox: pending requests of the active team they can see, newest first.",
    responses={200: PendingList},
    errors=SESSION_ERRORS,
    permission="approve_requests",
)
async def pending(caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        items = []
        for row in await decisions.list_pending(conn, caller.team_id):
            if not await can_decide(conn, caller, row):
                continue
            items.append(
                PendingItem(
                    txn_id=str(row.txn_id),
                    credential_name=row.credential_name,
                    agent_id=row.agent_id,
                    target_url=row.target_url,
                    method=row.method,
                    body_preview=row.body_preview,
                    summary=f"{row.agent_id} wants to {row.method} {row.target_url}",
                    require_passkey=row.require_passkey,
                    can_approve=True,
                    created_at=row.created_at,
                    expires_at=row.expires_at,
                )
            )
    return _no_store(respond(PendingList(pending=items)))


@operation(
    blueprint,
    "GET",
    "/team/approvals/<txn_id>/evidence",
    summary="The passkey evidence of a decided request, for anyone to re-check offline.",
    responses={200: EvidenceOut},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_TXN,
    permission="view_audit",
)
async def evidence(txn_id: str, caller: Caller) -> Response:
    txn = decisions.parse_txn_id(txn_id)
    votes = [
        evidence_check.PasskeyVote.of(e)
        for e in await evidence_store.of_request(runtime().pool, caller.team_id, txn)
    ]
    if not votes:
        raise ApprovalNotFound(f"no passkey evidence for request {txn}")
    rp = RelyingParty.from_config(runtime().config)
    return respond(
        EvidenceOut(
            txn_id=str(txn),
            rp_id=rp.rp_id if rp else None,
            origins=list(rp.origins) if rp else [],
            evidence=[EvidenceEntry(**v.to_json()) for v in votes],
            digest=evidence_check.digest(votes),
        )
    )
