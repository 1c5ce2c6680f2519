"""The hash of the TLS key this instance serves, for the attestation's runtime data.

TAP does not terminate TLS itself: the terminator in front of it (nginx in the
container group) does, with the certificate ``TAP_TLS_CERT_FILE`` names. Its
public key's SHA-256 goes into every attestation so a verifier can check that
the connection it used ends at the attested instance. The file is read on
every request, so a renewed certificate is attested at once.
"""

from __future__ import annotations

from pathlib import Path

from attestation import spki_sha256
from enclave.errors import CustodyError

STEP = "attestation.tls-key"


def tls_key_sha256(cert_file: Path | None) -> str:
    """SHA-256 hex of the public key of the first certificate in ``cert_file``.

    Raises CustodyError (step ``attestation.tls-key``) when it is unset, unreadable
    or not a certificate: an attestation that binds no TLS key is never given.
    """
    if cert_file is None:
        raise CustodyError(
            STEP, "TAP_TLS_CERT_FILE is not set; it names the certificate TLS is served with"
        )
    try:
        data = cert_file.read_bytes()
    except OSError as exc:
        raise CustodyError(STEP, f"cannot read TAP_TLS_CERT_FILE: {exc.strerror}") from exc
    try:
        return spki_sha256(data)
    except ValueError as exc:
        raise CustodyError(STEP, "TAP_TLS_CERT_FILE does not hold a certificate") from exc
