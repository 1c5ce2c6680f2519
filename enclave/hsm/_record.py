"""The stored record of a DEK wrapped by the HSM.

The DEK is wrapped inside the HSM with ``CKM_AES_KEY_WRAP_PAD`` (RFC 5649,
AES key wrap with padding) under an AES-256 key that never leaves the token.
The record is one canonical JSON object, written once to the ``custody``
table like the Azure provider's::

    {"alg": "AES-KEY-WRAP-PAD", "fingerprint": "<16 hex>", "kek": "<key label>",
     "v": 1, "wrapped": "<standard base64 of the wrapped DEK>"}

``kek`` is the label of the wrapping key; ``fingerprint`` names the DEK and is
checked after every unwrap.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Final

from enclave.errors import CustodyError

RECORD_VERSION: Final = 1
ALGORITHM: Final = "AES-KEY-WRAP-PAD"
MAX_RECORD_BYTES: Final = 16 * 1024

_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
_MEMBERS: Final = frozenset({"alg", "fingerprint", "kek", "v", "wrapped"})
_STEP: Final = "dek.record"


@dataclass(frozen=True, slots=True)
class HsmWrappedDek:
    """A DEK wrapped by the HSM. Cannot be built with a malformed member."""

    kek: str
    fingerprint: str
    wrapped: bytes

    def __post_init__(self) -> None:
        if _FINGERPRINT.fullmatch(self.fingerprint) is None:
            raise CustodyError(_STEP, "the stored DEK record has a malformed fingerprint")
        if not self.kek or len(self.kek) > 128:
            raise CustodyError(_STEP, "the stored DEK record has a malformed key label")
        # RFC 5649 output is a multiple of 8 bytes, at least 16.
        if not 16 <= len(self.wrapped) <= 1024 or len(self.wrapped) % 8:
            raise CustodyError(_STEP, "the stored DEK record's ciphertext has an impossible length")

    def to_bytes(self) -> bytes:
        """The canonical stored form."""
        record = {
            "alg": ALGORITHM,
            "fingerprint": self.fingerprint,
            "kek": self.kek,
            "v": RECORD_VERSION,
            "wrapped": base64.b64encode(self.wrapped).decode("ascii"),
        }
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> HsmWrappedDek:
        """Parse a stored record. Raises CustodyError (step ``dek.record``)."""
        if len(raw) > MAX_RECORD_BYTES:
            raise CustodyError(
                _STEP, "the stored DEK record is too large; it was not written by TAP"
            )
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise CustodyError(
                _STEP, "the stored DEK record is not JSON; it was not written by TAP"
            ) from None
        if not isinstance(record, dict):
            raise CustodyError(_STEP, "the stored DEK record is not a JSON object")
        if record.get("alg") != ALGORITHM or record.get("v") != RECORD_VERSION:
            # Typically a record of the enclave build (RSA-OAEP-256 under a Key Vault key).
            raise CustodyError(
                _STEP,
                f"the stored DEK record is version {record.get('v')!r} / {record.get('alg')!r}; "
                f"HSM custody reads version {RECORD_VERSION} / {ALGORITHM} (was the DEK wrapped "
                "for another custody mode?)",
            )
        if set(record) != _MEMBERS:
            raise CustodyError(_STEP, "the stored DEK record has unexpected members")
        kek, fingerprint, wrapped = record["kek"], record["fingerprint"], record["wrapped"]
        if (
            not isinstance(kek, str)
            or not isinstance(fingerprint, str)
            or not isinstance(wrapped, str)
        ):
            raise CustodyError(_STEP, "the stored DEK record has members of the wrong type")
        try:
            ciphertext = base64.b64decode(wrapped, validate=True)
        except (binascii.Error, ValueError):
            raise CustodyError(_STEP, "the stored wrapped DEK is not standard base64") from None
        return cls(kek=kek, fingerprint=fingerprint, wrapped=ciphertext)
