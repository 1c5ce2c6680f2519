"""An S3-style endpoint on loopback that verifies AWS Signature V4 with its own code.

Written from the SigV4 specification (canonical request, string to sign,
derived signing key), sharing nothing with the signer under test (botocore).
S3 rules: the path is signed as sent (no normalisation, no double encoding)
and ``X-Amz-Content-SHA256`` must be the hash of the body received.

Usage::

    s3 = FakeS3(keys={"AKID": "secret"}, region="us-east-1")
    upstream = Upstream(handler=s3.handle).start()
    s3.verified    # [(access key id, method, path), ...]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from aiohttp import web

from tests.support.upstream import Received

MAX_SKEW = dt.timedelta(minutes=15)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_query(query: str) -> str:
    pairs = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        pairs.append(
            (
                quote(unquote(name), safe="-_.~"),
                quote(unquote(value.replace("+", " ")), safe="-_.~"),
            )
        )
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def _parse_authorization(header: str) -> tuple[str, str, list[str], str]:
    algorithm, _, rest = header.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise ValueError("unsupported algorithm")
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    access_key, scope = parts["Credential"].split("/", 1)
    return access_key, scope, parts["SignedHeaders"].split(";"), parts["Signature"]


@dataclass
class FakeS3:
    keys: dict[str, str] = field(default_factory=dict)
    """access key id -> secret access key."""
    region: str = "us-east-1"
    session_tokens: dict[str, str] = field(default_factory=dict)
    """access key id -> the session token it must come with."""
    reply_text: str = ""
    verified: list[tuple[str, str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def handle(self, received: Received) -> web.Response:
        try:
            access_key = self._verify(received)
        except (ValueError, KeyError) as exc:
            self.refused.append(str(exc))
            return web.Response(
                status=403,
                content_type="application/xml",
                text=f"<Error><Code>SignatureDoesNotMatch</Code><Message>{exc}</Message></Error>",
            )
        self.verified.append((access_key, received.method, received.raw_path))
        return web.Response(
            content_type="application/xml",
            text=(
                f"<Result><Region>{self.region}</Region><Method>{received.method}</Method>"
                f"<Size>{len(received.body)}</Size><Echo>{self.reply_text}</Echo></Result>"
            ),
        )

    def _verify(self, received: Received) -> str:
        h = {k.lower(): v for k, v in received.headers.items()}
        access_key, scope, signed, signature = _parse_authorization(h["authorization"])
        date, region, service, terminator = scope.split("/")
        if region != self.region or service != "s3" or terminator != "aws4_request":
            raise ValueError("wrong credential scope")
        amz_date = h["x-amz-date"]
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        if abs(dt.datetime.now(dt.UTC) - when) > MAX_SKEW or amz_date[:8] != date:
            raise ValueError("request time too skewed")
        payload = h["x-amz-content-sha256"]
        if payload != hashlib.sha256(received.body).hexdigest():
            raise ValueError("x-amz-content-sha256 does not match the body")
        for required in ("host", "x-amz-date", "x-amz-content-sha256"):
            if required not in signed:
                raise ValueError(f"{required} is not signed")
        expected_token = self.session_tokens.get(access_key)
        if expected_token is not None and (
            h.get("x-amz-security-token") != expected_token or "x-amz-security-token" not in signed
        ):
            raise ValueError("missing or unsigned session token")
        path, _, query = received.raw_path.partition("?")
        canonical_headers = "".join(f"{name}:{' '.join(h[name].split())}\n" for name in signed)
        canonical = "\n".join(
            (
                received.method,
                path,
                _canonical_query(query),
                canonical_headers,
                ";".join(signed),
                payload,
            )
        )
        to_sign = "\n".join(
            ("AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        key = _hmac(("AWS4" + self.keys[access_key]).encode(), date)
        for part in (region, service, "aws4_request"):
            key = _hmac(key, part)
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise ValueError("signature does not match")
        return access_key
