"""Tests for attestation/_maa_token.py: every rejection, and the accepting path."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attestation import (
    CLOCK_LEEWAY_SECS,
    InputError,
    Origin,
    SigningKeys,
    VerificationError,
    load_signing_keys,
    verify_signed_token,
    verify_token,
)
from attestation._base64 import b64url_decode
from tests.support.attestation import (
    ENDPOINT,
    HOSTDATA,
    NONCE,
    NOW,
    VECTORS,
    good_claims,
    load_vector,
    mint,
    unsigned,
    vector_names,
)


def keys_for(signing_key: Any, jwks_uri: str | None = None) -> SigningKeys:
    return SigningKeys.from_jwks(
        signing_key.jwks(), origin=Origin.parse(ENDPOINT), jwks_uri=jwks_uri
    )


def verify(token: str, keys: SigningKeys, **kw: Any) -> Any:
    args: dict[str, Any] = {"allowed_hostdata": {HOSTDATA}, "nonce": NONCE, "now": NOW}
    args.update(kw)
    return verify_token(token, keys=keys, **args)


def failed_check(token: str, keys: SigningKeys, **kw: Any) -> str:
    with pytest.raises(VerificationError) as info:
        verify(token, keys, **kw)
    assert info.value.results[-1].name == info.value.check
    assert not info.value.results[-1].ok
    assert all(result.ok for result in info.value.results[:-1])
    return info.value.check


# -- vectors (tests/vectors/attestation/token_*.jwt) ---------------------------


@pytest.mark.parametrize("name", vector_names(".jwt"))
def test_vector(name: str) -> None:
    vector = load_vector(name)
    keys = load_signing_keys(VECTORS / "maa_jwks.json", Origin.parse(vector.headers["endpoint"]))
    now = datetime.fromisoformat(vector.headers["now"].replace("Z", "+00:00"))
    kw = {
        "allowed_hostdata": {vector.headers["hostdata"]},
        "nonce": vector.headers["nonce"],
        "now": now,
    }
    if vector.headers["expect"] == "ok":
        assert verify(vector.body, keys, **kw).hostdata == vector.headers["hostdata"]
    else:
        assert failed_check(vector.body, keys, **kw) == vector.headers["expect"]


def test_valid_vector_signature_checks_out_with_openssl(tmp_path: Path) -> None:
    """A second implementation agrees with ours on the accepting vector."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    head, payload, sig = load_vector("token_valid.jwt").body.split(".")
    (tmp_path / "input").write_bytes(f"{head}.{payload}".encode())
    (tmp_path / "sig").write_bytes(b64url_decode(sig))
    key = (VECTORS / "maa_signing_key.pem").read_bytes()
    key = key[key.index(b"-----BEGIN") :]
    (tmp_path / "key.pem").write_bytes(key)
    pub = subprocess.run(
        [openssl, "pkey", "-in", str(tmp_path / "key.pem"), "-pubout"],
        check=True,
        capture_output=True,
    ).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    args = [openssl, "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature"]
    ok = subprocess.run(
        [*args, str(tmp_path / "sig"), str(tmp_path / "input")], capture_output=True
    )
    assert ok.returncode == 0
    (tmp_path / "input").write_bytes(f"{head}.{payload}x".encode())
    bad = subprocess.run(
        [*args, str(tmp_path / "sig"), str(tmp_path / "input")], capture_output=True
    )
    assert bad.returncode != 0


# -- the accepting path --------------------------------------------------------


def test_valid_token_verifies_and_reports_every_check(signing_key: Any) -> None:
    verified = verify(mint(signing_key, good_claims()), keys_for(signing_key))
    names = [result.name for result in verified.report.results]
    assert names == [
        "token.format",
        "header.alg",
        "header.crit",
        "header.typ",
        "header.jku",
        "header.kid",
        "signature",
        "claim.iss",
        "claim.exp",
        "claim.nbf",
        "claim.iat",
        "claim.x-ms-attestation-type",
        "claim.x-ms-compliance-status",
        "claim.x-ms-sevsnpvm-is-debuggable",
        "claim.x-ms-sevsnpvm-vmpl",
        "claim.x-ms-sevsnpvm-hostdata",
        "claim.x-ms-runtime.nonce",
    ]
    assert verified.report.ok
    assert verified.hostdata == HOSTDATA
    with pytest.raises(TypeError):
        verified.claims["iss"] = "x"  # type: ignore[index]


def test_without_a_nonce_the_nonce_check_does_not_run(signing_key: Any) -> None:
    verified = verify(mint(signing_key, good_claims()), keys_for(signing_key), nonce=None)
    assert "claim.x-ms-runtime.nonce" not in [r.name for r in verified.report.results]


def test_uppercase_hostdata_is_the_same_measurement(signing_key: Any) -> None:
    token = mint(signing_key, good_claims(hostdata=HOSTDATA.upper()))
    assert (
        verify(token, keys_for(signing_key), allowed_hostdata={HOSTDATA.upper()}).hostdata
        == HOSTDATA
    )


def test_one_of_several_allowed_hostdata_passes(signing_key: Any) -> None:
    verify(
        mint(signing_key, good_claims()),
        keys_for(signing_key),
        allowed_hostdata={"0" * 64, HOSTDATA},
    )


def test_signed_token_check_stops_before_the_measurement(signing_key: Any) -> None:
    token = mint(signing_key, good_claims(**{"x-ms-sevsnpvm-is-debuggable": True}))
    verified = verify_signed_token(token, keys=keys_for(signing_key), now=NOW)
    assert verified.report.results[-1].name == "claim.iat"


# -- times, at the edge of the leeway ------------------------------------------


@pytest.mark.parametrize(
    ("offsets", "check"),
    [
        # exp: still valid inside the leeway, refused at it
        ({"exp": -CLOCK_LEEWAY_SECS + 1}, None),
        ({"exp": -CLOCK_LEEWAY_SECS}, "claim.exp"),
        # nbf and iat: a little in the future is skew, more is refused
        ({"nbf": CLOCK_LEEWAY_SECS}, None),
        ({"nbf": CLOCK_LEEWAY_SECS + 1}, "claim.nbf"),
        ({"iat": CLOCK_LEEWAY_SECS}, None),
        ({"iat": CLOCK_LEEWAY_SECS + 1}, "claim.iat"),
    ],
)
def test_time_claims_with_leeway(
    signing_key: Any, offsets: dict[str, int], check: str | None
) -> None:
    t = int(NOW.timestamp())
    token = mint(signing_key, good_claims(**{k: t + v for k, v in offsets.items()}))
    if check is None:
        verify(token, keys_for(signing_key))
    else:
        assert failed_check(token, keys_for(signing_key)) == check


# -- each claim missing or wrong -----------------------------------------------

CLAIM_CASES = [
    # registered claims: missing, or of the wrong type
    ("iss", None, "claim.iss"),
    ("iss", ENDPOINT + "/", "claim.iss"),
    ("exp", None, "claim.exp"),
    ("exp", "2030-01-01", "claim.exp"),
    ("exp", True, "claim.exp"),
    ("nbf", None, "claim.nbf"),
    ("iat", None, "claim.iat"),
    # SEV-SNP claims: missing
    ("x-ms-attestation-type", None, "claim.x-ms-attestation-type"),
    ("x-ms-compliance-status", None, "claim.x-ms-compliance-status"),
    ("x-ms-sevsnpvm-is-debuggable", None, "claim.x-ms-sevsnpvm-is-debuggable"),
    ("x-ms-sevsnpvm-vmpl", None, "claim.x-ms-sevsnpvm-vmpl"),
    ("x-ms-sevsnpvm-hostdata", None, "claim.x-ms-sevsnpvm-hostdata"),
    ("x-ms-runtime", None, "claim.x-ms-runtime.nonce"),
    # SEV-SNP claims: wrong value or wrong type
    ("x-ms-attestation-type", "sgx", "claim.x-ms-attestation-type"),
    ("x-ms-compliance-status", "azure-compliant-cvm", "claim.x-ms-compliance-status"),
    ("x-ms-sevsnpvm-is-debuggable", True, "claim.x-ms-sevsnpvm-is-debuggable"),
    ("x-ms-sevsnpvm-is-debuggable", 0, "claim.x-ms-sevsnpvm-is-debuggable"),
    ("x-ms-sevsnpvm-vmpl", 1, "claim.x-ms-sevsnpvm-vmpl"),
    ("x-ms-sevsnpvm-vmpl", "0", "claim.x-ms-sevsnpvm-vmpl"),
    ("x-ms-sevsnpvm-vmpl", False, "claim.x-ms-sevsnpvm-vmpl"),
    ("x-ms-sevsnpvm-hostdata", "0" * 64, "claim.x-ms-sevsnpvm-hostdata"),
    ("x-ms-sevsnpvm-hostdata", HOSTDATA[:-1], "claim.x-ms-sevsnpvm-hostdata"),
    ("x-ms-sevsnpvm-hostdata", [HOSTDATA], "claim.x-ms-sevsnpvm-hostdata"),
    # nonce: mismatch, missing member, runtime data not an object
    ("x-ms-runtime", {"nonce": "0" * len(NONCE)}, "claim.x-ms-runtime.nonce"),
    ("x-ms-runtime", {"keys": []}, "claim.x-ms-runtime.nonce"),
    ("x-ms-runtime", NONCE, "claim.x-ms-runtime.nonce"),
    ("x-ms-runtime", {"nonce": None}, "claim.x-ms-runtime.nonce"),
]


@pytest.mark.parametrize(("claim", "value", "check"), CLAIM_CASES)
def test_claim_missing_or_wrong(signing_key: Any, claim: str, value: Any, check: str) -> None:
    claims = good_claims()
    if value is None:
        del claims[claim]
    else:
        claims[claim] = value
    assert failed_check(mint(signing_key, claims), keys_for(signing_key)) == check


# -- header and signature ------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "check"),
    [
        ({"alg": "none"}, "header.alg"),
        ({"alg": "HS256"}, "header.alg"),
        ({"alg": "HS384"}, "header.alg"),
        ({"alg": "HS512"}, "header.alg"),
        ({"alg": "PS256"}, "header.alg"),
        ({"alg": "ES256"}, "header.alg"),
        ({"alg": "rs256"}, "header.alg"),
        ({}, "header.alg"),
        ({"alg": "RS256", "typ": "JOSE"}, "header.typ"),
        ({"alg": "RS256", "crit": []}, "header.crit"),
        ({"alg": "RS256"}, "header.kid"),
        ({"alg": "RS256", "kid": 1}, "header.kid"),
        ({"alg": "RS256", "kid": "maa-key-2"}, "header.kid"),
        ({"alg": "RS256", "kid": "maa-key-1", "jku": "https://evil.example/certs"}, "header.jku"),
        ({"alg": "RS256", "kid": "maa-key-1", "jku": "http://maa.example/certs"}, "header.jku"),
    ],
)
def test_header_refusals(signing_key: Any, header: dict[str, Any], check: str) -> None:
    token = mint(signing_key, good_claims(), header=header)
    assert failed_check(token, keys_for(signing_key)) == check


def test_jku_must_equal_the_published_key_set_url(signing_key: Any) -> None:
    keys = keys_for(signing_key, jwks_uri=ENDPOINT + "/certs")
    header = {"alg": "RS256", "kid": signing_key.kid, "jku": ENDPOINT + "/other"}
    assert failed_check(mint(signing_key, good_claims(), header=header), keys) == "header.jku"
    header["jku"] = ENDPOINT + "/certs"
    verify(mint(signing_key, good_claims(), header=header), keys)


def test_signature_by_another_key_with_the_same_kid(signing_key: Any) -> None:
    from tests.support.attestation import make_signing_key

    impostor = make_signing_key(signing_key.kid)
    assert failed_check(mint(impostor, good_claims()), keys_for(signing_key)) == "signature"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "e30.e30.",  # empty signature
        "e30=.e30.AAAA",  # padding
        "e30.e30.AA+A",  # standard-base64 alphabet
        "W10.e30.AAAA",  # header is a JSON array
        "e30.bnVsbA.AAAA",  # payload is null
        "eyJhIjpOYU59.e30.AAAA",  # NaN
        "x" * 70000,
    ],
)
def test_malformed_tokens(signing_key: Any, token: str) -> None:
    assert failed_check(token, keys_for(signing_key)) == "token.format"


def test_unsigned_token_refused(signing_key: Any) -> None:
    token = unsigned({"alg": "none"}, good_claims())
    assert failed_check(token, keys_for(signing_key)) == "token.format"


# -- the caller's side ---------------------------------------------------------


def test_expected_hostdata_must_be_given_and_well_formed(signing_key: Any) -> None:
    token = mint(signing_key, good_claims())
    with pytest.raises(InputError):
        verify(token, keys_for(signing_key), allowed_hostdata=set())
    with pytest.raises(InputError):
        verify(token, keys_for(signing_key), allowed_hostdata={"xyz"})
    with pytest.raises(TypeError):
        verify(token, keys_for(signing_key), allowed_hostdata=HOSTDATA)


def test_naive_now_is_refused(signing_key: Any) -> None:
    with pytest.raises(TypeError):
        verify(
            mint(signing_key, good_claims()), keys_for(signing_key), now=NOW.replace(tzinfo=None)
        )


def test_now_moves_the_window(signing_key: Any) -> None:
    token = mint(signing_key, good_claims())
    later = NOW + timedelta(hours=9)
    assert failed_check(token, keys_for(signing_key), now=later) == "claim.exp"
