"""Offline verification of passkey evidence: it holds, and any changed byte fails a named check."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from app.errors import EvidenceInvalid
from app.passkeys.canonical import CanonicalRequest
from app.passkeys.evidence import PasskeyVote, digest, unb64url, verify_vote
from tests.support.authenticator import SoftAuthenticator, b64url

RP_ID = "tap.example.test"
ORIGIN = "https://tap.example.test"
BODY_SHA = hashlib.sha256(b'{"amount": 5}').hexdigest()
CANONICAL = CanonicalRequest(
    txn_id="5b0c1c9e-6e0f-4a8f-9a55-1f5e2f0f7d11",
    team_id="team_1",
    agent_id="bot",
    credential="demo",
    method="POST",
    target_url="https://api.example.com/v1/charges",
    body_sha256=BODY_SHA,
    approver="ann@example.com",
    expires_at="2026-11-29T15:00:00Z",
    nonce="AAECAwQFBgcICQoLDA0ODw",
)
REQUEST = {
    "txn_id": CANONICAL.txn_id,
    "team_id": "team_1",
    "agent_id": "bot",
    "credential": "demo",
    "method": "POST",
    "target_url": CANONICAL.target_url,
    "body_sha256": BODY_SHA,
}


def _vote(authenticator: SoftAuthenticator | None = None, **client: str) -> PasskeyVote:
    authenticator = authenticator or SoftAuthenticator(origin=ORIGIN)
    created = authenticator.create(
        {"rp": {"id": RP_ID}, "user": {"id": b64url(b"usr_1")}, "challenge": b64url(b"x" * 32)}
    )
    del created
    key = authenticator.keys[-1]
    assertion = authenticator.get(
        {"rpId": RP_ID, "challenge": b64url(CANONICAL.challenge())}, origin=client.get("origin")
    )
    response = assertion["response"]
    return PasskeyVote(
        approver="ann@example.com",
        canonical_request=CANONICAL.text(),
        credential_id=key.id,
        public_key=key.cose_public_key(),
        authenticator_data=unb64url(response["authenticatorData"]),
        client_data_json=unb64url(response["clientDataJSON"]),
        signature=unb64url(response["signature"]),
    )


@pytest.fixture(scope="module")
def vote() -> PasskeyVote:
    return _vote()


def test_good_evidence_verifies(vote: PasskeyVote) -> None:
    assert verify_vote(vote, rp_id=RP_ID, origins=[ORIGIN], request=REQUEST) == CANONICAL
    # The published form round-trips, and its digest is stable.
    assert PasskeyVote.from_json(vote.to_json()) == vote
    assert digest([vote]) == digest([PasskeyVote.from_json(vote.to_json())])


@pytest.mark.parametrize(
    "member",
    ["canonical_request", "public_key", "authenticator_data", "client_data_json", "signature"],
)
def test_every_changed_byte_fails_a_named_check(vote: PasskeyVote, member: str) -> None:
    original = getattr(vote, member)
    raw = original.encode() if isinstance(original, str) else original
    for index in range(len(raw)):
        changed = bytearray(raw)
        changed[index] ^= 0x01
        value: bytes | str = bytes(changed)
        if isinstance(original, str):
            try:
                value = bytes(changed).decode()
            except UnicodeDecodeError:
                continue  # not text any more: cannot even be stored as a canonical request
        tampered = dataclasses.replace(vote, **{member: value})
        with pytest.raises(EvidenceInvalid) as failed:
            verify_vote(tampered, rp_id=RP_ID, origins=[ORIGIN], request=REQUEST)
        assert failed.value.check, (member, index)


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"approver": "eve@example.com"}, "approver"),
        ({"request": dict(REQUEST, target_url="https://evil.example/")}, "request.target_url"),
        ({"request": dict(REQUEST, body_sha256="0" * 64)}, "request.body_sha256"),
        ({"rp_id": "other.example"}, "rp_id_hash"),
        ({"origins": ["https://other.example"]}, "origin"),
    ],
)
def test_each_check_names_itself(vote: PasskeyVote, change: dict[str, object], check: str) -> None:
    kwargs: dict[str, object] = {"rp_id": RP_ID, "origins": [ORIGIN], "request": REQUEST}
    if "approver" in change:
        vote = dataclasses.replace(vote, approver=str(change["approver"]))
    else:
        kwargs.update(change)
    with pytest.raises(EvidenceInvalid) as failed:
        verify_vote(vote, **kwargs)  # type: ignore[arg-type]
    assert failed.value.check == check


def test_unverified_user_fails() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN, user_verified=False)
    with pytest.raises(EvidenceInvalid) as failed:
        verify_vote(_vote(authenticator), rp_id=RP_ID, origins=[ORIGIN], request=REQUEST)
    assert failed.value.check == "user_verified"
