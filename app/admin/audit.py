"""``GET /team/audit``: the team's audit log, newest first, filtered and paged (owners and admins).

``next_before`` is an opaque cursor; pass it back as ``before`` for the next
(older) page. It is ``null`` on the last page.

``GET /team/audit/verify`` checks the team's hash chain and checkpoints in the
database (:mod:`app.audit_verify`), one run per team at a time (429
``audit_verify_running`` while another runs); ``GET /audit/public-key`` publishes the
key checkpoints are signed with, for anyone who verifies them elsewhere.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Final

from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, respond
from app.admin.schemas import (
    AuditBreak,
    AuditKey,
    AuditPage,
    AuditPublicKey,
    AuditQuery,
    AuditVerification,
)
from app.audit_record import render
from app.audit_verify import ChainBroken, TrustedKeys, verify_database_team
from app.crypto import audit_key_id
from app.errors import AuditVerifyRunning, ValidationFailed
from app.store import audit as audit_store
from app.store import db
from app.webstate import runtime

blueprint = Blueprint("audit", __name__)


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
VERIFY_RETRY_SECS: Final = 10
VERIFY_ROWS_PER_READ: Final = 250
"""About 5 ms of hashing between two chances for the worker's other requests to run."""
_MICROSECOND: Final = dt.timedelta(microseconds=1)
_CURSOR: Final = re.compile(r"^([0-9]{1,18})\.([0-9]{1,18})$")


def encode_cursor(cursor: audit_store.Cursor) -> str:
    """``<microseconds since the epoch>.<row id>``: URL-safe and exact."""
    return f"{(cursor.timestamp - _EPOCH) // _MICROSECOND}.{cursor.id}"


def decode_cursor(raw: str) -> audit_store.Cursor:
    """Raises ValidationFailed for anything that is not a cursor this API produced."""
    match = _CURSOR.match(raw)
    if match is None:
        raise ValidationFailed("before must be the next_before value of a previous page")
    micros, row_id = int(match.group(1)), int(match.group(2))
    try:
        timestamp = _EPOCH + micros * _MICROSECOND
    except OverflowError:
        raise ValidationFailed("before must be the next_before value of a previous page") from None
    return audit_store.Cursor(timestamp=timestamp, id=row_id)


@operation(
    blueprint,
    "GET",
    "/team/audit",
    summary="The team's audit log (filters: agent, credential, outcome; paged with before).",
    query=AuditQuery,
    responses={200: AuditPage},
    errors=(400, *SESSION_ERRORS),
    permission="view_audit",
)
async def team_audit(query: AuditQuery, caller: Caller) -> Response:
    before = decode_cursor(query.before) if query.before else None
    async with db.transaction(runtime().pool) as conn:
        page = await audit_store.page(
            conn,
            caller.team_id,
            agent_id=query.agent,
            credential=query.credential,
            outcome=query.outcome,
            before=before,
            limit=query.limit,
        )
    return respond(
        AuditPage(
            entries=[render(entry) for entry in page.entries],
            next_before=encode_cursor(page.next_cursor) if page.next_cursor else None,
        )
    )


@operation(
    blueprint,
    "GET",
    "/team/audit/verify",
    summary="Check the team's audit hash chain and signed checkpoints; name the first break.",
    responses={200: AuditVerification},
    errors=(*SESSION_ERRORS, 429),
    permission="view_audit",
)
async def team_audit_verify(caller: Caller) -> Response:
    rt = runtime()
    trusted = TrustedKeys.of(rt.keys.audit_signer().public_key, *rt.config.audit_trusted_keys)
    async with db.transaction(rt.pool, readonly=True) as conn:
        # NOTE: verifying re-hashes the team's whole chain (seconds per million rows) on a
        # worker that also serves /forward: one run per team at a time, on any replica.
        if not await audit_store.try_lock_verification(conn, caller.team_id):
            raise AuditVerifyRunning(
                "A verification of this team's audit log is running; try again when it ends.",
                retry_after_secs=VERIFY_RETRY_SECS,
            )
        try:
            summary = await verify_database_team(
                conn, caller.team_id, trusted, rows_per_read=VERIFY_ROWS_PER_READ
            )
        except ChainBroken as broken:
            return respond(
                AuditVerification(
                    valid=False,
                    records=0,
                    checkpoints=0,
                    signed_records=0,
                    head=None,
                    broken=AuditBreak(
                        record=broken.index,
                        kind=broken.kind,
                        detail=broken.detail,
                    ),
                )
            )
    return respond(
        AuditVerification(
            valid=True,
            records=summary.records,
            checkpoints=summary.checkpoints,
            signed_records=summary.signed,
            head=summary.head.hex(),
            broken=None,
        )
    )


def _key(public_key: bytes) -> AuditKey:
    return AuditKey(
        key_id=audit_key_id(public_key), public_key=base64.b64encode(public_key).decode("ascii")
    )


@operation(
    blueprint,
    "GET",
    "/audit/public-key",
    summary="The Ed25519 public key that signs audit checkpoints (and earlier trusted keys).",
    responses={200: AuditPublicKey},
    authenticated=False,
)
async def audit_public_key() -> Response:
    rt = runtime()
    current = _key(rt.keys.audit_signer().public_key)
    return respond(
        AuditPublicKey(
            algorithm="Ed25519",
            key_id=current.key_id,
            public_key=current.public_key,
            trusted_keys=[_key(key) for key in rt.config.audit_trusted_keys],
        )
    )
