"""KEK parsing (enclave/azure/_jwk.py): what the sidecar may hand us, and what an operator may."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from enclave import CustodyError
from enclave.azure import (
    PRIVATE_MEMBERS,
    jwk_object,
    private_jwk,
    private_key_from_jwk,
    public_jwk,
    public_key_from_jwk,
)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("kty", ["RSA", "RSA-HSM"])
@pytest.mark.parametrize("as_string", [False, True], ids=["object", "json-string"])
def test_released_rsa_key_is_accepted(key: rsa.RSAPrivateKey, kty: str, as_string: bool) -> None:
    jwk = private_jwk(key, kty=kty)
    value: object = json.dumps(jwk) if as_string else jwk
    parsed = private_key_from_jwk(jwk_object(value, step="s"), step="s")
    assert parsed.private_numbers() == key.private_numbers()


def test_crt_values_are_recomputed_not_trusted(key: rsa.RSAPrivateKey) -> None:
    jwk = private_jwk(key)
    jwk["dp"] = jwk["dq"] = jwk["qi"] = "AQ"
    assert private_key_from_jwk(jwk, step="s").private_numbers() == key.private_numbers()


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        # key type
        (lambda j: j.update(kty="EC"), "only RSA or RSA-HSM"),
        (lambda j: j.update(kty="oct-HSM"), "only RSA or RSA-HSM"),
        (lambda j: j.pop("kty"), "only RSA or RSA-HSM"),
        # members
        (lambda j: j.pop("d"), "no private part"),
        (lambda j: j.update(n="not base64!"), "not base64url"),
        (lambda j: j.update(p="AQ"), "inconsistent"),
    ],
    ids=["ec", "oct", "no-kty", "public-only", "bad-n", "wrong-p"],
)
def test_bad_released_keys_are_refused(key: rsa.RSAPrivateKey, mutate, fragment: str) -> None:  # type: ignore[no-untyped-def]
    jwk = private_jwk(key)
    mutate(jwk)
    with pytest.raises(CustodyError, match=fragment):
        private_key_from_jwk(jwk, step="kek.parse")


def test_small_modulus_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(CustodyError, match="1024 bits; at least 2048"):
        private_key_from_jwk(private_jwk(small), step="s")
    with pytest.raises(CustodyError, match="1024 bits"):
        public_key_from_jwk(public_jwk(small.public_key()), step="s")


@pytest.mark.parametrize("value", [42, [1], "not json", json.dumps([1]), "x" * 70000])
def test_key_must_be_an_object(value: object) -> None:
    with pytest.raises(CustodyError):
        jwk_object(value, step="s")


@pytest.mark.parametrize("member", PRIVATE_MEMBERS)
def test_public_jwk_with_any_private_member_is_refused(key: rsa.RSAPrivateKey, member: str) -> None:
    jwk: dict[str, object] = dict(public_jwk(key.public_key()))
    jwk[member] = "AQ"
    with pytest.raises(CustodyError, match="private members"):
        public_key_from_jwk(jwk, step="kek.public")


def test_public_jwk_round_trip(key: rsa.RSAPrivateKey) -> None:
    parsed = public_key_from_jwk(dict(public_jwk(key.public_key())), step="s")
    assert parsed.public_numbers() == key.public_key().public_numbers()
