"""The fingerprint of a data key: names a key in logs without revealing it.

NOTE: this is the same recipe as ``app.crypto.key_fingerprint`` (HMAC-SHA256
keyed with the key over a fixed label, first 16 hex digits), so the
fingerprint custody logs is the one the proxy logs at start-up and the one
``tap enclave fingerprint`` prints. ``enclave`` cannot import ``app``; a unit
test pins that both give the same value.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from enclave.errors import CustodyError

DEK_BYTES: Final = 32
"""Length of the data key (the master key the purpose keys are derived from)."""

FINGERPRINT_LABEL: Final = b"tap master-key fingerprint v1"
"""Domain separation: a fingerprint is never a MAC of anything else."""

FINGERPRINT_HEX_CHARS: Final = 16


def dek_fingerprint(dek: bytes) -> str:
    """16 hex digits identifying ``dek``. Raises ValueError unless it is 32 bytes."""
    if len(dek) != DEK_BYTES:
        raise ValueError(f"a data key is {DEK_BYTES} bytes, got {len(dek)}")
    return hmac.new(dek, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:FINGERPRINT_HEX_CHARS]


def check_unwrapped_dek(dek: bytes, expected_fingerprint: str) -> bytes:
    """Return ``dek`` if it is the DEK a stored record names; every provider checks this.

    Raises CustodyError: ``dek.length`` (not 32 bytes) or ``dek.fingerprint``
    (some other key: the record was altered, or another wrapping key opened it).
    """
    if len(dek) != DEK_BYTES:
        raise CustodyError(
            "dek.length", f"the unwrapped DEK is {len(dek)} bytes, expected {DEK_BYTES}"
        )
    actual = dek_fingerprint(dek)
    if not hmac.compare_digest(actual, expected_fingerprint):
        raise CustodyError(
            "dek.fingerprint",
            f"the unwrapped DEK has fingerprint {actual}, the record names {expected_fingerprint}; "
            "the stored record was altered",
        )
    return dek
