"""Tests for enclave/_tls_key.py: no attestation without a readable TLS certificate."""

from __future__ import annotations

from pathlib import Path

import pytest

from enclave import CustodyError, tls_key_sha256
from tests.support.pki import TlsIdentity


def test_hashes_the_served_certificate(tmp_path: Path) -> None:
    TlsIdentity.create(tmp_path).server_context(tmp_path)
    assert len(tls_key_sha256(tmp_path / "leaf.pem")) == 64


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        # unset
        (lambda d: None, "TAP_TLS_CERT_FILE is not set"),
        # missing
        (lambda d: d / "missing.pem", "cannot read"),
        # not a certificate (a key, say)
        (lambda d: (d / "key.pem", (d / "key.pem").write_text("hello"))[0], "does not hold"),
    ],
)
def test_refusals_name_the_step(tmp_path: Path, setup: object, words: str) -> None:
    path = setup(tmp_path)  # type: ignore[operator]
    with pytest.raises(CustodyError) as info:
        tls_key_sha256(path)
    assert info.value.step == "attestation.tls-key"
    assert words in str(info.value)
