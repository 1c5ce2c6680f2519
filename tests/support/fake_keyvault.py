"""A fake Azure Key Vault (HTTPS on loopback) that releases keys by policy.

It holds exportable RSA keys, each version with a release policy, and serves::

    GET  /keys/<name>/<version>            {"key": public JWK with kid}
    POST /keys/<name>/<version>/release    {"target": <MAA token>, "enc"?: ...}
         no bearer token -> 401 with a Key Vault style challenge
         token not signed by the fake MAA, or policy not met -> 403
         otherwise -> {"value": <JWS>} as Key Vault answers: RS256, x5c chain
         (leaf for localhost issued by a test CA), payload request/response with
         key_hsm = RSA-OAEP(wrapping key from x-ms-runtime) ‖ AES-KWP(PKCS#8)

The policy is evaluated with the attestation library against the verified
token claims, so "released" means the whole chain held.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from attestation import (
    Origin,
    ReleasePolicy,
    SigningKeys,
    VerificationError,
    evaluate_release_policy,
    verify_signed_token,
)
from tests.support.fake_maa import FakeMaa
from tests.support.loopback import LoopbackServer, Reply, Request
from tests.support.pki import TlsIdentity, b64url, der_b64, rsa_key, sign_jws

_ENC_HASH = {
    "CKM_RSA_AES_KEY_WRAP": hashes.SHA1,
    "RSA_AES_KEY_WRAP_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_384": hashes.SHA384,
}


def sevsnp_policy(authority: str, hostdata: str) -> dict[str, Any]:
    """The release policy a TAP operator writes (Microsoft's sample shape)."""
    return {
        "version": "1.0.0",
        "anyOf": [
            {
                "authority": authority,
                "allOf": [
                    {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"},
                    {"claim": "x-ms-compliance-status", "equals": "azure-compliant-uvm"},
                    {"claim": "x-ms-sevsnpvm-hostdata", "equals": hostdata},
                    {"claim": "x-ms-sevsnpvm-is-debuggable", "equals": "false"},
                    {"claim": "x-ms-sevsnpvm-vmpl", "equals": "0"},
                ],
            }
        ],
    }


@dataclass
class StoredKey:
    key: rsa.RSAPrivateKey
    policy: dict[str, Any]
    kty: str = "RSA-HSM"


@dataclass
class FakeKeyVault:
    maa: FakeMaa
    directory: Path
    keys: dict[tuple[str, str], StoredKey] = field(default_factory=dict)
    releases: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tls = TlsIdentity.create(self.directory)
        self.server = LoopbackServer(self._handle, tls=self.tls.server_context(self.directory))

    @property
    def host(self) -> str:
        return f"localhost:{self.server.port}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def kid(self, name: str, version: str) -> str:
        return f"{self.url}/keys/{name}/{version}"

    def start(self) -> FakeKeyVault:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def create_key(self, name: str, policy: dict[str, Any], *, bits: int = 2048) -> str:
        version = os.urandom(16).hex()
        self.keys[(name, version)] = StoredKey(rsa_key(bits), policy)
        return version

    def public_jwk(self, name: str, version: str) -> dict[str, Any]:
        numbers = self.keys[(name, version)].key.public_key().public_numbers()
        size = (numbers.n.bit_length() + 7) // 8
        return {
            "kid": self.kid(name, version),
            "kty": "RSA-HSM",
            "key_ops": ["wrapKey", "unwrapKey", "encrypt", "decrypt"],
            "n": b64url(numbers.n.to_bytes(size, "big")),
            "e": b64url(numbers.e.to_bytes(3, "big")),
        }

    def _refuse(self, why: str) -> Reply:
        self.refusals.append(why)
        return Reply.json(403, {"error": {"code": "AccessDenied", "message": why}})

    def _handle(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "keys" or (parts[1], parts[2]) not in self.keys:
            return Reply.json(404, {"error": {"code": "KeyNotFound", "message": "no such key"}})
        stored = self.keys[(parts[1], parts[2])]
        if not request.headers.get("authorization", "").startswith("Bearer "):
            challenge = (
                'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", '
                'resource="https://vault.azure.net"'
            )
            return Reply.json(
                401, {"error": {"code": "Unauthorized"}}, **{"WWW-Authenticate": challenge}
            )
        if request.method == "GET" and len(parts) == 3:
            return Reply.json(200, {"key": self.public_jwk(parts[1], parts[2])})
        if request.method == "POST" and len(parts) == 4 and parts[3] == "release":
            return self._release(request, parts[1], parts[2], stored)
        return Reply.json(405, {"error": {"code": "BadMethod"}})

    def _release(self, request: Request, name: str, version: str, stored: StoredKey) -> Reply:
        body = request.json()
        token = body.get("target")
        enc = body.get("enc") or "CKM_RSA_AES_KEY_WRAP"
        jwks = httpx.get(self.maa.url + "/certs").json()
        keys = SigningKeys.from_jwks(
            jwks, origin=Origin.parse(self.maa.issuer), jwks_uri=f"{self.maa.issuer}/certs"
        )
        try:
            verified = verify_signed_token(token, keys=keys, now=dt.datetime.now(dt.UTC))
            evaluate_release_policy(ReleasePolicy.from_json(stored.policy), verified.claims)
        except VerificationError as exc:
            return self._refuse(
                f"Target environment attestation statement cannot be verified: {exc.check}"
            )
        runtime = verified.claims.get("x-ms-runtime")
        wrapping_jwk = (
            runtime["keys"][0] if isinstance(runtime, dict) and runtime.get("keys") else None
        )
        if not isinstance(wrapping_jwk, dict):
            return self._refuse("no wrapping key in x-ms-runtime")
        n = int.from_bytes(_unb64(wrapping_jwk["n"]), "big")
        e = int.from_bytes(_unb64(wrapping_jwk["e"]), "big")
        wrapping = rsa.RSAPublicNumbers(e, n).public_key()
        aes_key = os.urandom(32)
        digest = _ENC_HASH[enc]()
        head = wrapping.encrypt(aes_key, padding.OAEP(padding.MGF1(digest), digest, None))
        pkcs8 = stored.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        ciphertext = head + aes_key_wrap_with_padding(aes_key, pkcs8)
        key_hsm = b64url(
            json.dumps(
                {
                    "schema_version": "1.0",
                    "header": {"kid": "TransferKey", "alg": "dir", "enc": enc},
                    "ciphertext": b64url(ciphertext),
                }
            ).encode()
        )
        kid = self.kid(name, version)
        payload = {
            "request": {
                "api-version": request.query.get("api-version", ["7.4"])[0],
                "enc": enc,
                "kid": kid,
            },
            "response": {
                "key": {
                    "attributes": {"enabled": True, "exportable": True},
                    "key": {
                        "kid": kid,
                        "kty": stored.kty,
                        "key_ops": ["wrapKey", "unwrapKey"],
                        "key_hsm": key_hsm,
                    },
                    "release_policy": {
                        "contentType": "application/json; charset=utf-8",
                        "data": b64url(json.dumps(stored.policy).encode()),
                    },
                }
            },
        }
        header = {
            "alg": "RS256",
            "kid": "fake-kv-signer",
            "x5c": [der_b64(self.tls.leaf_cert), der_b64(self.tls.ca_cert)],
        }
        self.releases.append(
            {"kid": kid, "enc": enc, "hostdata": verified.claims.get("x-ms-sevsnpvm-hostdata")}
        )
        return Reply.json(200, {"value": sign_jws(header, payload, self.tls.leaf_key)})


def _unb64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
