"""The runtime data a TAP instance has attested, and the hash of a TLS key.

When a verifier asks ``/attestation?nonce=...``, TAP asks the attestation
endpoint for a token over this JSON object (the endpoint copies it into the
token's ``x-ms-runtime`` claim, and the hardware report carries its SHA-256)::

    {"build_sha": "<40 hex>", "dek_origin": "generated" | "migrated" | null,
     "nonce": "<the verifier's nonce>", "tls-spki-sha256": "<64 hex>"}

- ``nonce`` makes the token fresh and made for this request.
- ``tls-spki-sha256`` is the SHA-256 of the DER SubjectPublicKeyInfo of the
  certificate the instance serves TLS with, so a verifier knows the key it
  talked to is the attested one (no one between it and the enclave).
- ``build_sha`` is the build the measured code says it is.
- ``dek_origin`` says whether the data key was generated inside the enclave or
  migrated in from an environment key (``null`` when the database predates
  the record).

Members are serialised with sorted keys and no spaces, so the bytes (and the
report data hash) are the same for the same values. ``enclave`` builds the
object with :func:`runtime_data`; ``verify-instance`` checks each member.

    >>> runtime_data(nonce="ab" * 16, tls_spki_sha256="0" * 64, build_sha="1" * 40,
    ...              dek_origin="generated")[:15]
    b'{"build_sha":"1'
"""

from __future__ import annotations

import hashlib
import json
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = [
    "DEK_ORIGINS",
    "RUNTIME_BUILD_SHA",
    "RUNTIME_DEK_ORIGIN",
    "RUNTIME_NONCE",
    "RUNTIME_TLS_KEY",
    "runtime_data",
    "spki_sha256",
]

RUNTIME_NONCE: Final = "nonce"
RUNTIME_TLS_KEY: Final = "tls-spki-sha256"
RUNTIME_BUILD_SHA: Final = "build_sha"
RUNTIME_DEK_ORIGIN: Final = "dek_origin"
DEK_ORIGINS: Final = ("generated", "migrated")
"""Where a data key can come from: made inside the enclave, or moved in from an env key."""


def runtime_data(
    *, nonce: str, tls_spki_sha256: str, build_sha: str, dek_origin: str | None
) -> bytes:
    """The canonical runtime data bytes for one attestation request."""
    return json.dumps(
        {
            RUNTIME_BUILD_SHA: build_sha,
            RUNTIME_DEK_ORIGIN: dek_origin,
            RUNTIME_NONCE: nonce,
            RUNTIME_TLS_KEY: tls_spki_sha256,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")


def spki_sha256(certificate: bytes) -> str:
    """SHA-256 (lowercase hex) of the public key of a certificate, DER or PEM.

    Raises:
        ValueError: ``certificate`` is not a certificate.
    """
    if certificate.lstrip().startswith(b"-----BEGIN"):
        cert = x509.load_pem_x509_certificate(certificate)
    else:
        cert = x509.load_der_x509_certificate(certificate)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()
