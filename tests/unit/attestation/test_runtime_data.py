"""Tests for attestation/_runtime_data.py: the attested object and the TLS key hash."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from attestation import runtime_data, spki_sha256


def test_runtime_data_is_canonical_json() -> None:
    data = runtime_data(
        nonce="ab" * 16, tls_spki_sha256="c" * 64, build_sha="d" * 40, dek_origin=None
    )
    assert data == (
        b'{"build_sha":"' + b"d" * 40 + b'","dek_origin":null,"nonce":"' + b"ab" * 16
        + b'","tls-spki-sha256":"' + b"c" * 64 + b'"}'
    )  # fmt: skip
    assert json.loads(data)["nonce"] == "ab" * 16


def test_spki_hash_is_the_same_for_pem_and_der(loopback_tls: Any) -> None:
    pem = Path(loopback_tls.cert_file).read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    assert spki_sha256(pem) == spki_sha256(der)
    assert len(spki_sha256(pem)) == 64


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_spki_hash_matches_openssl(loopback_tls: Any) -> None:
    # A second implementation: openssl extracts the public key as DER SubjectPublicKeyInfo.
    pubkey = subprocess.run(
        ["openssl", "x509", "-in", str(loopback_tls.cert_file), "-pubkey", "-noout"],
        check=True,
        capture_output=True,
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=pubkey,
        check=True,
        capture_output=True,
    ).stdout
    assert spki_sha256(Path(loopback_tls.cert_file).read_bytes()) == hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("data", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nx\n"])
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        spki_sha256(data)
