"""The wrapped-DEK record and RSA-OAEP-256 (enclave/azure/_envelope.py)."""

from __future__ import annotations

import json
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import enclave
from app.crypto import key_fingerprint
from enclave.azure import ALGORITHM, WrappedDek, unwrap_dek, wrap_dek

KID = "https://tap-kv.vault.azure.net/keys/tap-kek/0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def kek() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_fingerprint_is_the_one_app_logs() -> None:
    # enclave cannot import app; both must name a key the same way.
    for key in (b"\x00" * 32, bytes(range(32)), os.urandom(32)):
        assert enclave.dek_fingerprint(key) == key_fingerprint(key)
    with pytest.raises(ValueError):
        enclave.dek_fingerprint(b"\x00" * 31)


def test_round_trip_and_canonical_record(kek: rsa.RSAPrivateKey) -> None:
    dek = os.urandom(32)
    record = wrap_dek(dek, kek.public_key(), kid=KID)
    raw = record.to_bytes()
    assert json.loads(raw) == {
        "alg": ALGORITHM,
        "fingerprint": enclave.dek_fingerprint(dek),
        "kid": KID,
        "v": 1,
        "wrapped": json.loads(raw)["wrapped"],
    }
    assert WrappedDek.from_bytes(raw) == record
    assert unwrap_dek(WrappedDek.from_bytes(raw), kek) == dek


def test_wrap_is_rsa_oaep_256_with_an_empty_label(kek: rsa.RSAPrivateKey) -> None:
    # A second implementation of the algorithm Key Vault calls RSA-OAEP-256 opens it.
    dek = os.urandom(32)
    record = wrap_dek(dek, kek.public_key(), kid=KID)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"")
    assert kek.decrypt(record.wrapped, oaep) == dek
    sha1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    with pytest.raises(ValueError):
        kek.decrypt(record.wrapped, sha1)


def test_another_kek_cannot_open_it(kek: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    record = wrap_dek(os.urandom(32), kek.public_key(), kid=KID)
    with pytest.raises(enclave.CustodyError) as info:
        unwrap_dek(record, other)
    assert info.value.step == "dek.unwrap"


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_only_32_bytes_are_a_dek(kek: rsa.RSAPrivateKey, length: int) -> None:
    with pytest.raises(enclave.CustodyError):
        wrap_dek(os.urandom(length), kek.public_key(), kid=KID)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    record = WrappedDek(KID, "0" * 16, kek.public_key().encrypt(os.urandom(length), oaep))
    with pytest.raises(enclave.CustodyError) as info:
        unwrap_dek(record, kek)
    assert info.value.step == "dek.length"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b'{"v": 1}',
        b'{"alg": "RSA-OAEP", "fingerprint": "0000000000000000", "kid": "https://x/keys/a/b", "v": 1, "wrapped": ""}',
        b'{"alg": "RSA-OAEP-256", "fingerprint": "0000000000000000", "kid": "https://x/keys/a/b", "v": 2, "wrapped": ""}',
        b'{"alg": "RSA-OAEP-256", "fingerprint": "zz", "kid": "https://x/keys/a/b", "v": 1, "wrapped": "AAAA"}',
        b'{"alg": "RSA-OAEP-256", "fingerprint": "0000000000000000", "kid": "https://x/keys/a/b", "v": 1, "wrapped": "!!"}',
        b"\xff" * 10,
        b"{" * 20000,
    ],
    ids=[
        "empty",
        "list",
        "partial",
        "sha1-oaep",
        "v2",
        "bad-fingerprint",
        "bad-base64",
        "binary",
        "huge",
    ],
)
def test_malformed_records_are_refused(raw: bytes) -> None:
    with pytest.raises(enclave.CustodyError) as info:
        WrappedDek.from_bytes(raw)
    assert info.value.step == "dek.record"
