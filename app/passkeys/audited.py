"""Check a stored passkey approval against the audit record of the request it let through.

:func:`app.passkeys.evidence.verify_vote` checks the signed bytes; this module
finds what they must match: the audit record of the forwarded request (its
team, agent, credentials, method and, where the whole body was recorded, the
body's hash), and the evidence digest that record carries. ``tap approvals
verify`` runs it; anyone with the published evidence and the audit export can
do the same by hand (docs/passkeys.md).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from app.errors import EvidenceInvalid
from app.passkeys.canonical import CanonicalRequest
from app.passkeys.evidence import PasskeyVote, digest, verify_vote
from app.store import audit
from app.store import evidence as evidence_store
from app.store.db import Conn


async def verify_approval(
    conn: Conn, team_id: str, txn_id: uuid.UUID, *, rp_id: str, origins: Sequence[str]
) -> list[CanonicalRequest]:
    """Verify every passkey vote on ``txn_id``; the canonical requests they signed.

    Raises EvidenceInvalid naming the first check that failed: ``evidence``
    (none stored), ``audit_record`` (the request was never forwarded), any
    check of :func:`~app.passkeys.evidence.verify_vote`, then ``audit_digest``
    (the audit names other evidence).
    """
    votes = [PasskeyVote.of(e) for e in await evidence_store.of_request(conn, team_id, txn_id)]
    if not votes:
        raise EvidenceInvalid("evidence", expected="at least one passkey vote", actual="none")
    forwarded = [
        r for r in await audit.of_request(conn, team_id, txn_id) if r["outcome"] == "forwarded"
    ]
    if not forwarded:
        raise EvidenceInvalid(
            "audit_record", expected="the forwarded request's audit record", actual="none"
        )
    record = forwarded[-1]
    request = {
        "txn_id": str(txn_id),
        "team_id": team_id,
        "agent_id": record["agent_id"],
        "credential": ",".join(record["credential_names"]),
        "method": record["method"],
    }
    if not record["request_body_truncated"]:
        request["body_sha256"] = hashlib.sha256(record["request_body"] or b"").hexdigest()
    signed = [verify_vote(v, rp_id=rp_id, origins=origins, request=request) for v in votes]
    # Last: the audit names exactly this evidence (no vote added, dropped or swapped).
    if record.get("approval_evidence_sha256") != digest(votes):
        raise EvidenceInvalid(
            "audit_digest",
            expected=digest(votes),
            actual=str(record.get("approval_evidence_sha256")),
        )
    return signed
