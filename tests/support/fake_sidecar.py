"""A fake SKR sidecar on loopback, speaking the real sidecar's API.

    GET  /status        {"message": "Status OK"} once ``ready``, else "Status NOT OK"
    POST /attest/maa    {"maa_endpoint", "runtime_data"} -> {"token"} from the fake MAA
    POST /key/release   {"maa_endpoint", "akv_endpoint", "kid"} -> {"key": "<JWK as a JSON string>"}

``/key/release`` runs the sidecar's protocol for real: a fresh RSA wrapping
key, a fake SNP report binding it (report_data = SHA-256 of the runtime data)
and carrying this group's ``hostdata`` and ``debuggable`` flag, an MAA token
from the fake MAA, Key Vault's release with a bearer token, and the unwrap of
``key_hsm``. Any failure is a 403 ``{"error": ...}``, as the real one answers.

Test knobs: ``ready``, ``hostdata``, ``debuggable``, and ``override`` (a canned
reply for ``/key/release``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

from tests.support.loopback import LoopbackServer, Reply, Request
from tests.support.pki import b64url, b64url_decode, rsa_key

_HASH = {
    "CKM_RSA_AES_KEY_WRAP": hashes.SHA1,
    "RSA_AES_KEY_WRAP_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_384": hashes.SHA384,
}


def _int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def jwk_of(key: rsa.RSAPrivateKey, kty: str) -> dict[str, str]:
    n = key.private_numbers()
    return {
        "kty": kty,
        "n": _int(n.public_numbers.n),
        "e": _int(n.public_numbers.e),
        "d": _int(n.d),
        "p": _int(n.p),
        "q": _int(n.q),
        "dp": _int(n.dmp1),
        "dq": _int(n.dmq1),
        "qi": _int(n.iqmp),
    }


class FakeSidecar:
    def __init__(self, *, hostdata: str, ca_file: Path, maa_url: str) -> None:
        self.hostdata = hostdata
        self.debuggable = False
        self.ready = True
        self.override: Reply | None = None
        self._ca_file = ca_file
        self._maa_url = maa_url
        self.server = LoopbackServer(self._handle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def start(self) -> FakeSidecar:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def requests(self, path: str) -> list[Request]:
        return [r for r in self.server.received if r.path == path]

    def _token(self, runtime: bytes) -> str:
        report = {
            "hostdata": self.hostdata,
            "is_debuggable": self.debuggable,
            "vmpl": 0,
            "report_data": hashlib.sha256(runtime).hexdigest(),
        }
        evidence = {
            "SnpReport": b64url(json.dumps(report).encode()),
            "VcekCertChain": "",
            "Endorsements": "",
        }
        body = {
            "report": b64url(json.dumps(evidence).encode()),
            "runtimeData": {"data": b64url(runtime), "dataType": "JSON"},
            "nonce": 1,
        }
        response = httpx.post(self._maa_url + "/attest/SevSnpVm?api-version=2020-10-01", json=body)
        response.raise_for_status()
        token: str = response.json()["token"]
        return token

    def _handle(self, request: Request) -> Reply:
        if request.path == "/status":
            return Reply.json(200, {"message": "Status OK" if self.ready else "Status NOT OK"})
        if request.path == "/attest/maa" and request.method == "POST":
            body = request.json()
            if not body.get("maa_endpoint") or not body.get("runtime_data"):
                return Reply.json(400, {"error": "maa_endpoint and runtime_data are required"})
            return Reply.json(200, {"token": self._token(base64.b64decode(body["runtime_data"]))})
        if request.path == "/key/release" and request.method == "POST":
            if self.override is not None:
                return self.override
            try:
                return Reply.json(200, {"key": json.dumps(self._release(request.json()))})
            except Exception as exc:
                return Reply.json(403, {"error": f"key release failed: {exc}"})
        return Reply.json(404, {"error": "not found"})

    def _release(self, body: dict[str, Any]) -> dict[str, str]:
        wrapping = rsa_key()
        numbers = wrapping.public_key().public_numbers()
        runtime = json.dumps(
            {
                "keys": [
                    {
                        "kty": "RSA",
                        "kid": "wrapping",
                        "key_ops": ["encrypt"],
                        "n": _int(numbers.n),
                        "e": _int(numbers.e),
                    }
                ]
            }
        ).encode()
        token = self._token(runtime)
        url = f"https://{body['akv_endpoint']}/keys/{body['kid']}/release?api-version=7.4"
        response = httpx.post(
            url,
            json={"target": token, "enc": "RSA_AES_KEY_WRAP_256"},
            headers={"Authorization": "Bearer fake-managed-identity-token"},
            verify=ssl.create_default_context(cafile=str(self._ca_file)),
        )
        if response.status_code != 200:
            raise RuntimeError(f"Key Vault answered {response.status_code}: {response.text}")
        payload = json.loads(b64url_decode(response.json()["value"].split(".")[1]))
        released = payload["response"]["key"]["key"]
        key_hsm = json.loads(b64url_decode(released["key_hsm"]))
        ciphertext = b64url_decode(key_hsm["ciphertext"])
        digest = _HASH[payload["request"]["enc"]]()
        aes_key = wrapping.decrypt(
            ciphertext[:256], padding.OAEP(padding.MGF1(digest), digest, None)
        )
        der = aes_key_unwrap_with_padding(aes_key, ciphertext[256:])
        key = serialization.load_der_private_key(der, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return jwk_of(key, released["kty"])
