"""Regenerate the token vectors in this directory.

Run from the repository root:  python tests/vectors/attestation/generate.py

The endpoint key is maa_signing_key.pem (made once with
``openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048``); the attacker
key is made fresh on each run, so only the attacker vectors change when this
script is rerun (RSASSA-PKCS1-v1_5 is deterministic).  Every token is signed by
the factories the tests use (tests/support/attestation.py); the valid
vector's signature is also checked by `openssl dgst` in test_maa_token.py, a
second implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location(
    "attestation_test_factories", HERE.parents[1] / "support" / "attestation.py"
)
assert spec is not None and spec.loader is not None
f = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = f
spec.loader.exec_module(f)

NOW = "2026-01-01T00:00:00Z"
COMMON = {"now": NOW, "endpoint": f.ENDPOINT, "hostdata": f.HOSTDATA, "nonce": f.NONCE}


def write(name: str, attack: str, expect: str, token: str) -> None:
    lines = [
        f"# {name}",
        f"# attack: {attack}",
        "# made by generate.py in this directory; verify with the parameters below",
        *(f"# {key}: {value}" for key, value in COMMON.items()),
        f"# expect: {expect}",
        token,
        "",
    ]
    (HERE / name).write_text("\n".join(lines), "utf-8")


def main() -> None:
    pem = (HERE / "maa_signing_key.pem").read_bytes()
    private = serialization.load_pem_private_key(pem, None)
    assert isinstance(private, rsa.RSAPrivateKey)
    key = f.make_signing_key(private=private)
    attacker = f.make_signing_key("attacker-key")
    impostor = f.make_signing_key(key.kid)  # an attacker key that reuses the real kid
    jwks: dict[str, Any] = {
        "_comment": "Key set of the vector endpoint https://maa.example; made by generate.py "
        "from maa_signing_key.pem (a test key). Extra members of a JWK Set are ignored.",
        **key.jwks(),
    }
    (HERE / "maa_jwks.json").write_text(json.dumps(jwks, indent=2) + "\n", "utf-8")

    good = f.good_claims()
    header = {"alg": "RS256", "kid": key.kid, "typ": "JWT", "jku": f.ENDPOINT + "/certs"}
    write("token_valid.jwt", "none: a valid token", "ok", f.mint(key, good, header=header))

    write(
        "token_alg_none.jwt",
        'alg "none" and no signature (CVE-2015-9235 class)',
        "token.format",
        f.unsigned({"alg": "none", "typ": "JWT"}, good),
    )
    write(
        "token_alg_none_with_signature.jwt",
        'alg "none" with a signature segment kept',
        "header.alg",
        f.unsigned({"alg": "none", "kid": key.kid}, good, b"\x00" * 256),
    )
    public_pem = key.public_pem()
    hs_input = f"{f._segment({'alg': 'HS256', 'kid': key.kid})}.{f._segment(good)}"
    hs_sig = hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest()
    write(
        "token_alg_hs256_key_confusion.jwt",
        "HS256 keyed with the endpoint's public key (RS/HS confusion)",
        "header.alg",
        f"{hs_input}.{f.b64url_encode(hs_sig)}",
    )
    write(
        "token_alg_rs512.jwt",
        "a correctly signed token with an algorithm outside the allow-list",
        "header.alg",
        f.mint(key, good, header={"alg": "RS512", "kid": key.kid}, hash_alg=hashes.SHA512()),
    )
    tampered = f.mint(key, good).split(".")
    tampered[1] = f._segment(f.good_claims(**{"x-ms-sevsnpvm-hostdata": "0" * 64}))
    write(
        "token_bad_signature.jwt", "payload changed after signing", "signature", ".".join(tampered)
    )
    write(
        "token_unknown_kid.jwt",
        "signed by a key that is not in the endpoint's key set",
        "header.kid",
        f.mint(attacker, good),
    )
    write(
        "token_impostor_key_same_kid.jwt",
        "signed by an attacker key that claims the endpoint's kid",
        "signature",
        f.mint(impostor, good),
    )
    write(
        "token_jku_foreign.jwt",
        "jku points at a key set the attacker controls",
        "header.jku",
        f.mint(
            key, good, header={"alg": "RS256", "kid": key.kid, "jku": "https://evil.example/certs"}
        ),
    )
    write(
        "token_crit_header.jwt",
        "a critical header extension the verifier does not understand",
        "header.crit",
        f.mint(key, good, header={"alg": "RS256", "kid": key.kid, "crit": ["b64"], "b64": False}),
    )
    write(
        "token_duplicate_alg_member.jwt",
        "two alg members: parsers that keep the last or first disagree",
        "token.format",
        f.mint(key, good, header=f'{{"alg":"none","alg":"RS256","kid":"{key.kid}"}}'),
    )
    t = int(datetime.fromisoformat(NOW.replace("Z", "+00:00")).astimezone(UTC).timestamp())
    cases = [
        (
            "token_expired.jwt",
            "replay of an expired token",
            "claim.exp",
            {"iat": t - 9 * 3600, "nbf": t - 9 * 3600, "exp": t - 3600},
        ),
        (
            "token_not_yet_valid.jwt",
            "a token valid only in the future",
            "claim.nbf",
            {"nbf": t + 3600},
        ),
        (
            "token_issued_in_future.jwt",
            "a token issued in the future",
            "claim.iat",
            {"iat": t + 3600},
        ),
        (
            "token_wrong_issuer.jwt",
            "a token from another attestation endpoint",
            "claim.iss",
            {"iss": "https://other.attest.example"},
        ),
        (
            "token_debuggable.jwt",
            "a debuggable enclave (the host can read its memory)",
            "claim.x-ms-sevsnpvm-is-debuggable",
            {"x-ms-sevsnpvm-is-debuggable": True},
        ),
        (
            "token_debuggable_as_string.jwt",
            'is-debuggable as the string "false" (type confusion)',
            "claim.x-ms-sevsnpvm-is-debuggable",
            {"x-ms-sevsnpvm-is-debuggable": "false"},
        ),
        (
            "token_missing_hostdata.jwt",
            "no hostdata claim (missing-claim bypass)",
            "claim.x-ms-sevsnpvm-hostdata",
            {"x-ms-sevsnpvm-hostdata": None},
        ),
        (
            "token_wrong_hostdata.jwt",
            "another policy's measurement",
            "claim.x-ms-sevsnpvm-hostdata",
            {"x-ms-sevsnpvm-hostdata": "ab" * 32},
        ),
        (
            "token_cvm_compliance.jwt",
            "a confidential VM, not a Microsoft-signed utility VM",
            "claim.x-ms-compliance-status",
            {"x-ms-compliance-status": "azure-compliant-cvm"},
        ),
        (
            "token_nonce_replayed.jwt",
            "a token bound to another (older) nonce",
            "claim.x-ms-runtime.nonce",
            {"x-ms-runtime": {"nonce": "00" * 24}},
        ),
    ]
    for name, attack, expect, overrides in cases:
        write(name, attack, expect, f.mint(key, f.good_claims(**overrides)))


if __name__ == "__main__":
    main()
