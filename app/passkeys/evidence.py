"""Check a passkey approval offline, from the stored evidence alone.

Anyone holding the evidence (``GET /team/approvals/{id}/evidence``), the
deployment's RP ID and origins, and the audited request can repeat these
checks; nothing here needs TAP's keys or database. The steps, each a named
check that raises :class:`~app.errors.EvidenceInvalid` with what it expected
and what it found:

1. ``canonical_form``: the canonical request is RFC 8785 JSON of the v1 fields.
2. ``approver``: the canonical request names the approver the vote is filed under.
3. ``request``: its txn id, team, agent, credential, method, target and body
   hash equal the audited request's.
4. ``client_data_type``: clientDataJSON's ``type`` is ``webauthn.get``.
5. ``challenge``: clientDataJSON's ``challenge`` is base64url(SHA-256(canonical request)).
6. ``origin``: clientDataJSON's ``origin`` is one of the deployment's origins.
7. ``rp_id_hash``: authenticatorData starts with SHA-256(RP ID).
8. ``user_present`` and 9. ``user_verified``: the UP and UV flags are set.
10. ``signature``: the signature over authenticatorData || SHA-256(clientDataJSON)
    verifies under the stored COSE public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from webauthn.helpers import (
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    verify_signature,
)
from webauthn.helpers.exceptions import WebAuthnException

from app.errors import EvidenceInvalid
from app.passkeys.canonical import CanonicalRequest, canonical_json
from app.store.evidence import Evidence

_FLAG_UP: Final = 0x01
_FLAG_UV: Final = 0x04
# The members of the canonical request that must equal the audited request's.
REQUEST_FIELDS: Final = (
    "txn_id",
    "team_id",
    "agent_id",
    "credential",
    "method",
    "target_url",
    "body_sha256",
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Strict base64url (padding optional). Raises ValueError."""
    if not isinstance(text, str) or any(c in text for c in "+/ \n"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class PasskeyVote:
    """One passkey vote's evidence: the bytes the authenticator signed, and its key."""

    approver: str
    canonical_request: str
    credential_id: str
    public_key: bytes
    authenticator_data: bytes
    client_data_json: bytes
    signature: bytes

    def to_json(self) -> dict[str, str]:
        """The published form: binary members base64url, the canonical request as signed."""
        return {
            "approver": self.approver,
            "canonical_request": self.canonical_request,
            "credential_id": self.credential_id,
            "public_key": b64url(self.public_key),
            "authenticator_data": b64url(self.authenticator_data),
            "client_data_json": b64url(self.client_data_json),
            "signature": b64url(self.signature),
        }

    @classmethod
    def of(cls, stored: Evidence) -> PasskeyVote:
        """The vote a stored evidence row records."""
        return cls(
            approver=stored.approver,
            canonical_request=stored.canonical_request,
            credential_id=stored.credential_id,
            public_key=stored.public_key,
            authenticator_data=stored.authenticator_data,
            client_data_json=stored.client_data_json,
            signature=stored.signature,
        )

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> PasskeyVote:
        """Raises EvidenceInvalid when a member is missing or not base64url."""
        try:
            return cls(
                approver=str(value["approver"]),
                canonical_request=str(value["canonical_request"]),
                credential_id=str(value["credential_id"]),
                public_key=unb64url(value["public_key"]),
                authenticator_data=unb64url(value["authenticator_data"]),
                client_data_json=unb64url(value["client_data_json"]),
                signature=unb64url(value["signature"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise EvidenceInvalid(
                "evidence_form", expected="every member, binary ones base64url", actual=str(exc)
            ) from None


def digest(votes: Sequence[PasskeyVote]) -> str:
    """Hex SHA-256 of the published evidence (canonical JSON), as the audit record carries it."""
    return hashlib.sha256(
        canonical_json({"votes": [v.to_json() for v in votes]}).encode()
    ).hexdigest()


def verify_vote(
    vote: PasskeyVote,
    *,
    rp_id: str,
    origins: Sequence[str],
    request: Mapping[str, str],
) -> CanonicalRequest:
    """Run every check on one vote; returns the canonical request it signed.

    ``request`` holds the audited request's values for :data:`REQUEST_FIELDS`
    (a field left out is not compared). Raises EvidenceInvalid naming the first
    check that failed.
    """
    # (1) the canonical request is canonical
    canonical = CanonicalRequest.parse(vote.canonical_request)
    # (2) it names the approver the vote is filed under
    _expect("approver", vote.approver.lower(), canonical.approver.lower())
    # (3) it is the audited request
    for name in REQUEST_FIELDS:
        if name in request:
            _expect(f"request.{name}", request[name], getattr(canonical, name))
    client = _client_data(vote.client_data_json)
    # (4) an assertion, not a registration
    _expect("client_data_type", "webauthn.get", str(client.get("type")))
    # (5) the challenge is the digest of the canonical request
    _expect("challenge", b64url(canonical.challenge()), str(client.get("challenge")))
    # (6) made on one of the deployment's origins
    origin = str(client.get("origin"))
    if origin not in origins:
        raise EvidenceInvalid("origin", expected=" or ".join(origins), actual=origin)
    data = vote.authenticator_data
    if len(data) < 37:
        raise EvidenceInvalid(
            "authenticator_data", expected="at least 37 bytes", actual=f"{len(data)} bytes"
        )
    # (7) for this RP ID
    _expect("rp_id_hash", hashlib.sha256(rp_id.encode()).hexdigest(), data[:32].hex())
    # (8, 9) a present, verified user
    _expect("user_present", "set", "set" if data[32] & _FLAG_UP else "clear")
    _expect("user_verified", "set", "set" if data[32] & _FLAG_UV else "clear")
    # (10) signed by the stored key
    _check_signature(vote)
    return canonical


def _expect(check: str, expected: str, actual: str) -> None:
    if expected != actual:
        raise EvidenceInvalid(check, expected=expected, actual=actual)


def _client_data(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise EvidenceInvalid("client_data_json", expected="JSON", actual="not JSON") from None
    if not isinstance(value, dict):
        raise EvidenceInvalid(
            "client_data_json", expected="a JSON object", actual=type(value).__name__
        )
    return value


def _check_signature(vote: PasskeyVote) -> None:
    signed = vote.authenticator_data + hashlib.sha256(vote.client_data_json).digest()
    try:
        decoded = decode_credential_public_key(vote.public_key)
        verify_signature(
            public_key=decoded_public_key_to_cryptography(decoded),
            signature_alg=decoded.alg,
            signature=vote.signature,
            data=signed,
        )
    except InvalidSignature:
        raise EvidenceInvalid("signature", expected="valid", actual="does not verify") from None
    except (WebAuthnException, ValueError, TypeError, KeyError):
        raise EvidenceInvalid(
            "public_key", expected="a COSE public key", actual="unreadable"
        ) from None
