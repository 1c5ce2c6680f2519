"""Tests for attestation/_signing_keys.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from attestation import (
    FetchError,
    InputError,
    Origin,
    SigningKeys,
    VerificationError,
    fetch_signing_keys,
    load_signing_keys,
)
from tests.support.attestation import NOW, fake_maa, make_signing_key, serve

ORIGIN = Origin.parse("https://maa.example")


def key_set(*jwks: dict[str, Any]) -> SigningKeys:
    return SigningKeys.from_jwks({"keys": list(jwks)}, origin=ORIGIN, jwks_uri=None)


def test_key_from_x5c_and_from_n_e(signing_key: Any) -> None:
    expected = signing_key.private.public_key().public_numbers()
    for jwk in (signing_key.jwk(), signing_key.jwk(n=None, e=None), signing_key.jwk(x5c=None)):
        assert key_set(jwk).public_key(signing_key.kid, now=NOW).public_numbers() == expected


@pytest.mark.parametrize(
    "overrides",
    [
        # wrong key type, algorithm or use
        {"kty": "EC"},
        {"kty": None},
        {"alg": "RS512"},
        {"use": "enc"},
        # no key material, or broken key material
        {"x5c": None, "n": None, "e": None},
        {"x5c": []},
        {"x5c": ["not base64!"]},
        {"x5c": ["AAAA"]},
        {"x5c": None, "n": "AQAB=", "e": "AQAB"},
        {"x5c": None, "e": None},
    ],
)
def test_unusable_keys(signing_key: Any, overrides: dict[str, Any]) -> None:
    with pytest.raises(VerificationError) as info:
        key_set(signing_key.jwk(**overrides)).public_key(signing_key.kid, now=NOW)
    assert info.value.check == "key.usable"


def test_n_e_must_match_the_certificate(signing_key: Any, attacker_key: Any) -> None:
    mixed = signing_key.jwk(n=attacker_key.jwk()["n"])
    with pytest.raises(VerificationError, match="certificate"):
        key_set(mixed).public_key(signing_key.kid, now=NOW)


def test_small_rsa_keys_are_refused() -> None:
    small = make_signing_key("small", bits=1024)
    with pytest.raises(VerificationError, match="2048"):
        key_set(small.jwk()).public_key("small", now=NOW)


def test_certificate_must_be_valid_now() -> None:
    old = make_signing_key(
        "old",
        not_before=datetime(2020, 1, 1, tzinfo=UTC),
        not_after=datetime(2021, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(VerificationError, match="valid now"):
        key_set(old.jwk()).public_key("old", now=NOW)


def test_unknown_kid(signing_key: Any) -> None:
    with pytest.raises(VerificationError) as info:
        key_set(signing_key.jwk()).public_key("nope", now=NOW)
    assert info.value.check == "header.kid"


@pytest.mark.parametrize(
    "jwks",
    [
        {},
        {"keys": {}},
        {"keys": ["x"]},
        {"keys": [{"kty": "RSA"}]},
        {"keys": [{"kid": "a"}, {"kid": "a"}]},
    ],
)
def test_malformed_key_sets(jwks: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        SigningKeys.from_jwks(jwks, origin=ORIGIN, jwks_uri=None)


def test_load_from_file(tmp_path: Path, signing_key: Any) -> None:
    path = tmp_path / "jwks.json"
    path.write_text('{"keys": [{"kid": "a"}]}')
    assert list(load_signing_keys(path, ORIGIN).keys) == ["a"]
    with pytest.raises(InputError):
        load_signing_keys(tmp_path / "missing.json", ORIGIN)
    path.write_text("[]")
    with pytest.raises(InputError):
        load_signing_keys(path, ORIGIN)


# -- fetching from the endpoint, over HTTPS on loopback ------------------------


def test_fetch(loopback_tls: Any, tls_client: httpx.Client, signing_key: Any) -> None:
    with serve(fake_maa(signing_key), loopback_tls) as maa:
        keys = fetch_signing_keys(tls_client, Origin.parse(maa.origin))
    assert keys.jwks_uri == maa.origin + "/certs"
    assert list(keys.keys) == [signing_key.kid]
    assert [r.path for r in maa.received] == ["/.well-known/openid-configuration", "/certs"]


@pytest.mark.parametrize(
    ("kwargs", "check"),
    [
        # keys hosted on another origin are not the endpoint's keys
        ({"jwks_uri": "https://evil.example/certs"}, "endpoint.jwks_uri"),
        ({"jwks_uri": "http://127.0.0.1/certs"}, "endpoint.jwks_uri"),
        # the metadata names another issuer
        ({"issuer": "https://evil.example"}, "endpoint.issuer"),
    ],
)
def test_fetch_refusals(
    loopback_tls: Any, tls_client: httpx.Client, signing_key: Any, kwargs: Any, check: str
) -> None:
    with (
        serve(fake_maa(signing_key, **kwargs), loopback_tls) as maa,
        pytest.raises(VerificationError) as info,
    ):
        fetch_signing_keys(tls_client, Origin.parse(maa.origin))
    assert info.value.check == check
    assert [r.path for r in maa.received] == ["/.well-known/openid-configuration"]


def test_fetch_of_a_broken_key_set(loopback_tls: Any, tls_client: httpx.Client) -> None:
    def handler(request: Any, origin: str) -> Any:
        if request.path == "/certs":
            return 200, {"keys": "nope"}
        return 200, {"issuer": origin, "jwks_uri": origin + "/certs"}

    with serve(handler, loopback_tls) as maa, pytest.raises(FetchError):
        fetch_signing_keys(tls_client, Origin.parse(maa.origin))
