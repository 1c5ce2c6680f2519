"""A fake web push service on loopback that checks what a real one checks, and more.

For every ``POST /push/<browser>`` it verifies the VAPID ``Authorization``
(``vapid t=<JWT>,k=<key>``: ES256 signature by the expected key, ``aud`` equal
to this service's origin, ``exp`` in the future and at most 24 h ahead, a
``sub``), requires ``Content-Encoding: aes128gcm`` and a ``TTL``, and
**decrypts** the body with the browser's private key and auth secret, so the
encryption is checked end to end. Accepted messages land in ``delivered``;
anything wrong lands in ``rejected`` with the reason and gets a 400.
``answer[browser]`` makes it answer another status (404/410: gone).
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from tests.support.loopback import LoopbackServer, Reply, Request

MAX_JWT_SECS = 24 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def vapid_keys() -> tuple[str, str]:
    """A fresh VAPID key pair as TAP takes it: (raw private scalar, uncompressed public point), base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big")), b64url(
        _point(key.public_key())
    )


@dataclass
class Browser:
    """One browser's push subscription: its endpoint and the keys only it holds."""

    name: str
    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self) -> dict[str, str]:
        """The body of ``POST /push/subscribe``."""
        return {
            "endpoint": self.endpoint,
            "p256dh": b64url(_point(self.key.public_key())),
            "auth": b64url(self.auth),
        }


@dataclass
class Delivered:
    browser: str
    payload: dict[str, Any]
    claims: dict[str, Any]
    ttl: int


@dataclass
class FakePushService:
    vapid_public_key: str
    vapid_private_key: str = ""
    """Handed to the TAP under test; the service itself only needs the public key."""
    delivered: list[Delivered] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    answer: dict[str, int] = field(default_factory=dict)
    browsers: dict[str, Browser] = field(default_factory=dict)
    _server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> FakePushService:
        self._server = LoopbackServer(self._handle).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def browser(self, name: str) -> Browser:
        made = Browser(name, f"{self.url}/push/{name}")
        self.browsers[name] = made
        return made

    def to(self, name: str) -> list[Delivered]:
        return [d for d in self.delivered if d.browser == name]

    def _handle(self, request: Request) -> Reply:
        name = request.path.removeprefix("/push/")
        browser = self.browsers.get(name)
        if request.method != "POST" or browser is None:
            return Reply(404)
        try:
            claims = self._check_vapid(request.headers.get("authorization", ""))
            if request.headers.get("content-encoding") != "aes128gcm":
                raise ValueError("Content-Encoding is not aes128gcm")
            ttl = int(request.headers["ttl"])
            plain = http_ece.decrypt(
                request.body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm"
            )
            payload = json.loads(plain)
        except Exception as exc:  # every failure is a finding the test reads
            self.rejected.append((name, f"{type(exc).__name__}: {exc}"))
            return Reply(400)
        self.delivered.append(Delivered(name, payload, claims, ttl))
        return Reply(self.answer.get(name, 201))

    def _check_vapid(self, header: str) -> dict[str, Any]:
        scheme, _, params = header.partition(" ")
        if scheme != "vapid":
            raise ValueError(f"Authorization scheme {scheme!r}")
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        if fields.get("k") != self.vapid_public_key:
            raise ValueError("k is not TAP's VAPID public key")
        head, body, signature = fields["t"].split(".")
        if json.loads(unb64url(head)) != {"typ": "JWT", "alg": "ES256"}:
            raise ValueError("JWT header")
        raw = unb64url(signature)
        der = utils.encode_dss_signature(
            int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        )
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(fields["k"]))
        try:
            public.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ValueError("VAPID signature does not verify") from None
        claims: dict[str, Any] = json.loads(unb64url(body))
        if claims.get("aud") != self.url:
            raise ValueError(f"aud {claims.get('aud')!r}")
        now = time.time()
        if not now < claims["exp"] <= now + MAX_JWT_SECS:
            raise ValueError("exp out of range")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise ValueError("sub")
        return claims
