"""A fake Microsoft Azure Attestation endpoint on loopback.

It has its own RSA signing key and self-signed certificate and serves::

    GET  /.well-known/openid-configuration   issuer + jwks_uri
    GET  /certs                              {"keys": [{kid, kty, x5c, n, e}]}
    POST /attest/SevSnpVm                    {"report": b64url(JSON{"SnpReport": b64url(<fake report>)}),
                                              "runtimeData": {"data": b64url(runtime), "dataType": "JSON"}}
                                             -> {"token": <RS256 JWT>}

The "report" is a JSON stand-in for an SEV-SNP report: ``hostdata``,
``is_debuggable``, ``vmpl`` and ``report_data`` (hex SHA-256 of the runtime
data). The fake refuses a report whose report_data does not bind the runtime
data, and mints a token with the SEV-SNP claims and ``x-ms-runtime`` = the
runtime data parsed as JSON. Its issuer is ``https://localhost:<port>`` (the
name the attestation library accepts) although it is served over plain HTTP.

A verifier outside the chain (``tap-attest``) fetches the issuer's metadata and
keys over HTTPS only: ``serve_https(tls)`` also serves the same handler over TLS
on a second port, and from then on the issuer is that HTTPS origin. The parties
inside the chain (sidecar, Key Vault) keep using ``url``.

:func:`maa_metadata` is the discovery half on its own (metadata and key set);
the attestation tooling's tests serve it with keys and issuers of their own
through ``tests.support.attestation.fake_maa``.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import time
import uuid
from typing import Any

from tests.support.loopback import LoopbackServer, Reply, Request
from tests.support.pki import b64url, b64url_decode, certificate, der_b64, rsa_key, sign_jws


def maa_metadata(
    path: str, *, issuer: str, jwks_uri: str, jwks: dict[str, Any]
) -> tuple[int, dict[str, Any]] | None:
    """Answer a GET of the discovery document or the key set; ``None`` for any other path."""
    if path == "/.well-known/openid-configuration":
        return 200, {
            "issuer": issuer,
            "jwks_uri": jwks_uri,
            "id_token_signing_alg_values_supported": ["RS256"],
        }
    if path == "/certs":
        return 200, jwks
    return None


class FakeMaa:
    def __init__(self) -> None:
        self.key = rsa_key()
        self.cert = certificate(self.key, "fake maa signing")
        self.kid = "fake-maa-key-1"
        self.tokens: list[dict[str, Any]] = []
        self.server = LoopbackServer(self._handle)
        self.https: LoopbackServer | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def issuer(self) -> str:
        port = self.https.port if self.https is not None else self.port
        return f"https://localhost:{port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeMaa:
        self.server.start()
        return self

    def serve_https(self, tls: ssl.SSLContext) -> FakeMaa:
        """Also serve over HTTPS; the issuer becomes that origin.

        Keys whose release policy names the old issuer no longer release:
        create a new key version after this.
        """
        self.https = LoopbackServer(self._handle, tls=tls).start()
        return self

    def stop(self) -> None:
        if self.https is not None:
            self.https.stop()
        self.server.stop()

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kid": self.kid,
                    "kty": "RSA",
                    "x5c": [der_b64(self.cert)],
                    "n": b64url(numbers.n.to_bytes(256, "big")),
                    "e": b64url(numbers.e.to_bytes(3, "big")),
                }
            ]
        }

    def mint(self, *, runtime: bytes, hostdata: str, debuggable: bool, vmpl: int = 0) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + 8 * 3600,
            "jti": uuid.uuid4().hex,
            "x-ms-attestation-type": "sevsnpvm",
            "x-ms-compliance-status": "azure-compliant-uvm",
            "x-ms-sevsnpvm-hostdata": hostdata,
            "x-ms-sevsnpvm-is-debuggable": debuggable,
            "x-ms-sevsnpvm-vmpl": vmpl,
            "x-ms-sevsnpvm-reportdata": hashlib.sha256(runtime).hexdigest() + "0" * 64,
            "x-ms-runtime": json.loads(runtime),
            "x-ms-ver": "1.0",
        }
        self.tokens.append(claims)
        header = {"alg": "RS256", "jku": f"{self.issuer}/certs", "kid": self.kid, "typ": "JWT"}
        return sign_jws(header, claims, self.key)

    def _handle(self, request: Request) -> Reply:
        if request.method == "GET":
            found = maa_metadata(
                request.path, issuer=self.issuer, jwks_uri=f"{self.issuer}/certs", jwks=self.jwks()
            )
            if found is not None:
                return Reply.json(*found)
        if request.method == "POST" and request.path == "/attest/SevSnpVm":
            body = request.json()
            evidence = json.loads(b64url_decode(body["report"]))
            report = json.loads(b64url_decode(evidence["SnpReport"]))
            runtime = b64url_decode(body["runtimeData"]["data"])
            if report["report_data"] != hashlib.sha256(runtime).hexdigest():
                return Reply.json(
                    400, {"error": {"code": "InvalidParameter", "message": "report data mismatch"}}
                )
            token = self.mint(
                runtime=runtime,
                hostdata=report["hostdata"],
                debuggable=report["is_debuggable"],
                vmpl=report["vmpl"],
            )
            return Reply.json(200, {"token": token})
        return Reply.json(404, {"error": "not found"})
