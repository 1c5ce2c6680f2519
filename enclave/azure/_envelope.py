"""The wrapped data key: how the DEK is sealed under the KEK and stored.

The DEK is wrapped with RSA-OAEP-256: OAEP with SHA-256 for both the digest
and MGF1 and an empty label, the algorithm Key Vault calls ``RSA-OAEP-256``
(not ``RSA-OAEP``, which is SHA-1 there). The stored record is one canonical
JSON object, written once to the database::

    {"alg": "RSA-OAEP-256", "fingerprint": "<16 hex>",
     "kid": "https://<vault>/keys/<name>/<version>", "v": 1,
     "wrapped": "<standard base64 of the RSA-OAEP-256 ciphertext>"}

``kid`` says which KEK can open it; ``fingerprint`` is the DEK's fingerprint
(:func:`enclave.dek_fingerprint`), checked after every unwrap, so a record
that opens to some other 32 bytes is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from enclave._fingerprint import DEK_BYTES, check_unwrapped_dek, dek_fingerprint
from enclave.errors import CustodyError

RECORD_VERSION: Final = 1
ALGORITHM: Final = "RSA-OAEP-256"
MAX_RECORD_BYTES: Final = 16 * 1024

_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
_MEMBERS: Final = frozenset({"alg", "fingerprint", "kid", "v", "wrapped"})


def _oaep() -> padding.OAEP:
    return padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
    )


@dataclass(frozen=True, slots=True)
class WrappedDek:
    """A stored wrapped DEK. Cannot be built with a malformed member."""

    kid: str
    fingerprint: str
    wrapped: bytes

    def __post_init__(self) -> None:
        if _FINGERPRINT.fullmatch(self.fingerprint) is None:
            raise CustodyError("dek.record", "the stored DEK record has a malformed fingerprint")
        if not self.kid.startswith("https://") or len(self.kid) > 512:
            raise CustodyError("dek.record", "the stored DEK record has a malformed key id")
        if not 256 <= len(self.wrapped) <= 1024:
            raise CustodyError(
                "dek.record", "the stored DEK record's ciphertext has an impossible length"
            )

    def to_bytes(self) -> bytes:
        """The canonical stored form."""
        record = {
            "alg": ALGORITHM,
            "fingerprint": self.fingerprint,
            "kid": self.kid,
            "v": RECORD_VERSION,
            "wrapped": base64.b64encode(self.wrapped).decode("ascii"),
        }
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> WrappedDek:
        """Parse a stored record. Raises CustodyError (step ``dek.record``)."""
        step = "dek.record"
        if len(raw) > MAX_RECORD_BYTES:
            raise CustodyError(
                step, "the stored DEK record is too large; it was not written by TAP"
            )
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise CustodyError(
                step, "the stored DEK record is not JSON; it was not written by TAP"
            ) from None
        if not isinstance(record, dict) or set(record) != _MEMBERS:
            raise CustodyError(step, "the stored DEK record has unexpected members")
        if record["v"] != RECORD_VERSION or record["alg"] != ALGORITHM:
            raise CustodyError(
                step,
                f"the stored DEK record is version {record['v']!r} / {record['alg']!r}; "
                f"this build reads version {RECORD_VERSION} / {ALGORITHM}",
            )
        kid, fingerprint, wrapped = record["kid"], record["fingerprint"], record["wrapped"]
        if (
            not isinstance(kid, str)
            or not isinstance(fingerprint, str)
            or not isinstance(wrapped, str)
        ):
            raise CustodyError(step, "the stored DEK record has members of the wrong type")
        try:
            ciphertext = base64.b64decode(wrapped.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CustodyError(step, "the stored wrapped DEK is not standard base64") from None
        return cls(kid=kid, fingerprint=fingerprint, wrapped=ciphertext)


def wrap_dek(dek: bytes, kek_public: rsa.RSAPublicKey, *, kid: str) -> WrappedDek:
    """Wrap ``dek`` under ``kek_public`` with RSA-OAEP-256. Raises CustodyError on a bad DEK."""
    if len(dek) != DEK_BYTES:
        raise CustodyError("dek.wrap", f"a DEK is {DEK_BYTES} bytes, got {len(dek)}")
    ciphertext = kek_public.encrypt(dek, _oaep())
    return WrappedDek(kid=kid, fingerprint=dek_fingerprint(dek), wrapped=ciphertext)


def unwrap_dek(record: WrappedDek, kek: rsa.RSAPrivateKey) -> bytes:
    """Open ``record`` with ``kek`` and check what comes out.

    Raises CustodyError: ``dek.unwrap`` (another KEK wrapped it, or it was
    altered), ``dek.length`` (not 32 bytes), ``dek.fingerprint`` (not the DEK
    the record names).
    """
    try:
        dek = kek.decrypt(record.wrapped, _oaep())
    except ValueError:
        raise CustodyError(
            "dek.unwrap",
            "the released KEK cannot open the stored DEK (RSA-OAEP-256 failed); check that "
            "TAP_SKR_KEY_ID names the key version the DEK was wrapped with",
        ) from None
    return check_unwrapped_dek(dek, record.fingerprint)
