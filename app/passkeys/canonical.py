"""The canonical request: the exact bytes a passkey approval signs.

A passkey approval does not sign a random challenge; it signs a digest of the
request it approves. The canonical request is the JSON object::

    {"v": 1, "txn_id", "team_id", "agent_id", "credential", "method",
     "target_url", "body_sha256", "approver", "expires_at", "nonce"}

serialised in RFC 8785 (JCS) form: keys sorted, no whitespace, strings as
UTF-8. Every member is a string except ``v``, a small integer, so sorted-key
compact JSON with ``ensure_ascii=False`` is exactly JCS for it. The WebAuthn
challenge is ``SHA-256(canonical request bytes)``; the authenticator signs
``authenticatorData || SHA-256(clientDataJSON)`` and clientDataJSON carries
that challenge, so the signature covers the request.

Example::

    request = CanonicalRequest(txn_id="…", team_id="…", agent_id="bot",
        credential="github", method="POST",
        target_url="https://api.github.com/repos/acme/app/issues",
        body_sha256="e3b0…", approver="ops@example.com",
        expires_at="2026-11-29T15:00:00Z", nonce="q1w2…")
    challenge = request.challenge()
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any, Final

from app.errors import EvidenceInvalid

VERSION: Final = 1
_FIELDS: Final = (
    "v",
    "txn_id",
    "team_id",
    "agent_id",
    "credential",
    "method",
    "target_url",
    "body_sha256",
    "approver",
    "expires_at",
    "nonce",
)


def new_nonce() -> str:
    """16 fresh random bytes, base64url without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def timestamp(moment: dt.datetime) -> str:
    """UTC, whole seconds, ``Z`` suffix: one spelling per instant."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_json(value: dict[str, Any]) -> str:
    """RFC 8785 form for objects whose members are strings and small integers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class CanonicalRequest:
    txn_id: str
    team_id: str
    agent_id: str
    credential: str
    method: str
    target_url: str
    """The effective absolute URL the executor will call."""
    body_sha256: str
    """Hex SHA-256 of the exact body that will be forwarded."""
    approver: str
    """The approving member's email (lower case)."""
    expires_at: str
    nonce: str
    v: int = VERSION

    def text(self) -> str:
        return canonical_json(asdict(self))

    def challenge(self) -> bytes:
        """The WebAuthn challenge for this request: SHA-256 of its canonical bytes."""
        return hashlib.sha256(self.text().encode()).digest()

    @classmethod
    def parse(cls, text: str) -> CanonicalRequest:
        """Read a stored canonical request. Raises EvidenceInvalid unless ``text`` is canonical."""
        try:
            value = json.loads(text)
        except ValueError:
            raise EvidenceInvalid("canonical_form", expected="JSON", actual="not JSON") from None
        if not isinstance(value, dict) or sorted(value) != sorted(_FIELDS):
            raise EvidenceInvalid(
                "canonical_form",
                expected=",".join(sorted(_FIELDS)),
                actual=",".join(sorted(value)) if isinstance(value, dict) else type(value).__name__,
            )
        if value["v"] != VERSION or type(value["v"]) is not int:
            raise EvidenceInvalid(
                "canonical_form", expected=f"v={VERSION}", actual=f"v={value['v']!r}"
            )
        members = {k: v for k, v in value.items() if k != "v"}
        if not all(isinstance(v, str) for v in members.values()):
            raise EvidenceInvalid("canonical_form", expected="string members", actual="other types")
        request = cls(**members)
        if request.text() != text:
            raise EvidenceInvalid(
                "canonical_form", expected="RFC 8785 serialisation", actual="other spelling"
            )
        return request
