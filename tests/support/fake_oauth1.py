"""An OAuth 1.0a provider on loopback that verifies signatures with its own RFC 5849 code.

The verifier here is written from RFC 5849 section 3.4 and shares nothing with
the signer under test (oauthlib): it parses the ``Authorization`` header,
rebuilds the signature base string from the request as received (raw path,
query, ``Host``, urlencoded form body) and checks HMAC-SHA1, HMAC-SHA256 or
RSA-SHA1. It also refuses a reused nonce and a stale timestamp.

Usage::

    provider = OAuth1Provider(consumers={"ck": "cs"}, tokens={"tok": "ts"})
    upstream = Upstream(handler=provider.handle).start()
    ...
    provider.verified    # [(consumer_key, token, method), ...]
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.upstream import Received

_PARAM = re.compile(r'\s*([A-Za-z0-9_]+)="([^"]*)"\s*')
MAX_SKEW_SECS = 300


def encode(text: str) -> str:
    """RFC 5849 section 3.6: percent-encode everything but unreserved characters."""
    return quote(text, safe="~-._")


def parse_authorization(header: str) -> dict[str, str]:
    scheme, _, rest = header.partition(" ")
    if scheme != "OAuth":
        raise ValueError("not an OAuth header")
    params: dict[str, str] = {}
    for part in rest.split(","):
        match = _PARAM.fullmatch(part)
        if match is None:
            raise ValueError(f"malformed parameter {part!r}")
        params[unquote(match.group(1))] = unquote(match.group(2))
    return params


def base_string(
    method: str, scheme: str, host: str, raw_path: str, oauth: dict[str, str], form: str | None
) -> str:
    """RFC 5849 section 3.4.1 from the request as received."""
    path, _, query = raw_path.partition("?")
    host = host.lower()
    default = {"http": ":80", "https": ":443"}[scheme]
    if host.endswith(default):
        host = host[: -len(default)]
    uri = f"{scheme}://{host}{path}"
    pairs = parse_qsl(query, keep_blank_values=True)
    if form:
        pairs += parse_qsl(form, keep_blank_values=True)
    pairs += [(k, v) for k, v in oauth.items() if k not in ("oauth_signature", "realm")]
    normalised = "&".join(f"{k}={v}" for k, v in sorted((encode(k), encode(v)) for k, v in pairs))
    return "&".join((method.upper(), encode(uri), encode(normalised)))


@dataclass
class OAuth1Provider:
    consumers: dict[str, str] = field(default_factory=dict)
    """consumer key -> consumer secret (HMAC methods)."""
    tokens: dict[str, str] = field(default_factory=dict)
    """token -> token secret."""
    rsa_keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    """consumer key -> public key (RSA-SHA1)."""
    bearer_tokens: set[str] = field(default_factory=set)
    reply_text: str = ""
    """Appended to every successful answer (to see what the sanitizer does with it)."""
    verified: list[tuple[str, str | None, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _nonces: set[tuple[str, str]] = field(default_factory=set)

    def handle(self, received: Received) -> web.Response:
        header = received.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            if header[7:] in self.bearer_tokens:
                self.verified.append(("bearer", None, "bearer"))
                return web.json_response({"ok": True, "scheme": "bearer", "echo": self.reply_text})
            return self._refuse("unknown bearer token")
        try:
            oauth = parse_authorization(header)
            self._check(received, oauth)
        except (ValueError, KeyError, InvalidSignature) as exc:
            return self._refuse(str(exc) or type(exc).__name__)
        self.verified.append(
            (oauth["oauth_consumer_key"], oauth.get("oauth_token"), oauth["oauth_signature_method"])
        )
        return web.json_response({"ok": True, "scheme": "oauth1", "echo": self.reply_text})

    def _refuse(self, reason: str) -> web.Response:
        self.refused.append(reason)
        return web.json_response({"errors": [{"code": 32, "message": reason}]}, status=401)

    def _check(self, received: Received, oauth: dict[str, str]) -> None:
        consumer = oauth["oauth_consumer_key"]
        timestamp = int(oauth["oauth_timestamp"])
        if abs(time.time() - timestamp) > MAX_SKEW_SECS:
            raise ValueError("stale timestamp")
        nonce = (consumer, oauth["oauth_nonce"])
        if nonce in self._nonces:
            raise ValueError("nonce reused")
        content_type = received.headers.get("Content-Type", "").split(";")[0].strip().lower()
        form = (
            received.body.decode() if content_type == "application/x-www-form-urlencoded" else None
        )
        # The fake serves plain http on loopback.
        text = base_string(
            received.method, "http", received.headers["Host"], received.raw_path, oauth, form
        )
        signature = base64.b64decode(oauth["oauth_signature"])
        method = oauth["oauth_signature_method"]
        if method == "RSA-SHA1":
            self.rsa_keys[consumer].verify(
                signature, text.encode(), padding.PKCS1v15(), hashes.SHA1()
            )
        else:
            digest = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}[method]
            token_secret = self.tokens[oauth["oauth_token"]] if "oauth_token" in oauth else ""
            key = f"{encode(self.consumers[consumer])}&{encode(token_secret)}"
            expected = hmac.new(key.encode(), text.encode(), digest).digest()
            if not hmac.compare_digest(expected, signature):
                raise ValueError("signature does not match")
        self._nonces.add(nonce)


def rsa_pair() -> tuple[str, rsa.RSAPublicKey]:
    """A fresh RSA key: its private PEM (for the credential) and public key (for the provider)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()
