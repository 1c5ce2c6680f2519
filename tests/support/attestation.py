"""Factories and fixtures for the attestation tests: signing keys, tokens, TLS and loopback servers.

Every factory has safe defaults that make a *valid* object; a test overrides
the one thing it is about.  The unit and integration suites import the
factories from here, and their conftests import the fixtures at the end of
this module, so there is one implementation.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from attestation._base64 import b64url_encode
from tests.support import loopback
from tests.support.fake_maa import maa_metadata

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "attestation"

NOW = datetime(2026, 1, 1, tzinfo=UTC)
"""The fixed 'now' of the unit tests and of the vectors."""

POLICY = b'package policy\n\napi_version := "0.10.0"\n'
"""A stand-in CCE policy; its SHA-256 is HOSTDATA."""

HOSTDATA = hashlib.sha256(POLICY).hexdigest()
NONCE = "6e6f6e63652d666f722d7468652d756e69742d7465737473"
ENDPOINT = "https://maa.example"
GIT_SHA = "1" * 40


@dataclass(frozen=True)
class SigningKey:
    """An RSA key with a self-signed certificate, as an MAA endpoint has."""

    private: rsa.RSAPrivateKey
    cert: x509.Certificate
    kid: str

    def jwk(self, **overrides: Any) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        der = self.cert.public_bytes(serialization.Encoding.DER)
        import base64

        jwk: dict[str, Any] = {
            "kid": self.kid,
            "kty": "RSA",
            "x5c": [base64.b64encode(der).decode("ascii")],
            "n": b64url_encode(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url_encode(numbers.e.to_bytes(3, "big")),
        }
        jwk.update(overrides)
        return {k: v for k, v in jwk.items() if v is not None}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def make_signing_key(
    kid: str = "maa-key-1",
    *,
    bits: int = 2048,
    private: rsa.RSAPrivateKey | None = None,
    not_before: datetime = datetime(2025, 1, 1, tzinfo=UTC),
    not_after: datetime = datetime(2035, 1, 1, tzinfo=UTC),
) -> SigningKey:
    key = private or rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "maa.example")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return SigningKey(key, cert, kid)


def good_claims(
    *,
    iss: str = ENDPOINT,
    now: datetime = NOW,
    hostdata: str = HOSTDATA,
    nonce: str | None = NONCE,
    **overrides: Any,
) -> dict[str, Any]:
    """The claims of a valid SEV-SNP token; ``None`` in overrides removes a claim."""
    t = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": iss,
        "iat": t - 30,
        "nbf": t - 30,
        "exp": t + 8 * 3600,
        "jti": "a" * 64,
        "x-ms-attestation-type": "sevsnpvm",
        "x-ms-compliance-status": "azure-compliant-uvm",
        "x-ms-sevsnpvm-is-debuggable": False,
        "x-ms-sevsnpvm-vmpl": 0,
        "x-ms-sevsnpvm-hostdata": hostdata,
        "x-ms-runtime": {"nonce": nonce} if nonce is not None else {"keys": []},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _segment(obj: Mapping[str, Any] | str) -> str:
    raw = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    return b64url_encode(raw.encode("utf-8"))


def mint(
    key: SigningKey,
    claims: Mapping[str, Any] | str,
    *,
    header: Mapping[str, Any] | str | None = None,
    hash_alg: hashes.HashAlgorithm | None = None,
) -> str:
    """Sign ``claims`` with ``key`` (RS256 unless told otherwise).

    ``header`` and ``claims`` may be raw JSON text, to build malformed tokens.
    """
    head = header if header is not None else {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
    signing_input = f"{_segment(head)}.{_segment(claims)}"
    signature = key.private.sign(
        signing_input.encode("ascii"), padding.PKCS1v15(), hash_alg or hashes.SHA256()
    )
    return f"{signing_input}.{b64url_encode(signature)}"


def unsigned(header: Mapping[str, Any], claims: Mapping[str, Any], signature: bytes = b"") -> str:
    return f"{_segment(header)}.{_segment(claims)}.{b64url_encode(signature)}"


# -- vectors -------------------------------------------------------------------


@dataclass(frozen=True)
class Vector:
    name: str
    headers: dict[str, str]
    body: str


def load_vector(name: str) -> Vector:
    """The one loader: ``# key: value`` header lines, then the body."""
    headers: dict[str, str] = {}
    body_lines: list[str] = []
    for line in (VECTORS / name).read_text("utf-8").splitlines():
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep and key.strip().isidentifier():
                headers[key.strip()] = value.strip()
        elif line.strip():
            body_lines.append(line.strip())
    return Vector(name, headers, "\n".join(body_lines))


def vector_names(suffix: str) -> list[str]:
    return sorted(path.name for path in VECTORS.glob(f"*{suffix}"))


# -- TLS on loopback -----------------------------------------------------------


@dataclass(frozen=True)
class LoopbackTls:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client(self) -> httpx.Client:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        return httpx.Client(verify=ctx, follow_redirects=False, timeout=5.0)


def make_loopback_tls(directory: Path) -> LoopbackTls:
    def pem_key(key: rsa.RSAPrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tap-attest test CA")])
    start = datetime.now(tz=UTC) - timedelta(days=1)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(2)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = LoopbackTls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    tls.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    tls.key_file.write_bytes(pem_key(leaf_key))
    return tls


# -- loopback servers ----------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, list[str]]


Reply = tuple[int, Any]
"""(status, body): a dict or list is sent as JSON, bytes as they are."""

Handler = Callable[[Received, str], Reply]
"""Called with the request and the server's own origin."""


@dataclass
class LoopbackServer:
    """A ``handler`` being served by :func:`serve`: its origin and what it received."""

    handler: Handler
    received: list[Received] = field(default_factory=list)
    origin: str = ""


@contextmanager
def serve(handler: Handler, tls: LoopbackTls) -> Iterator[LoopbackServer]:
    """Serve ``handler`` over HTTPS on loopback (the one server in tests/support/loopback.py)."""
    server = LoopbackServer(handler)

    def handle(request: loopback.Request) -> loopback.Reply:
        received = Received(request.method, request.path, request.query)
        server.received.append(received)
        status, body = server.handler(received, server.origin)
        headers = {}
        if isinstance(body, dict) and "location" in body and 300 <= status < 400:
            headers["Location"] = body["location"]
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return loopback.Reply(status, data, {"Content-Type": "application/json", **headers})

    running = loopback.LoopbackServer(handle, tls=tls.server_context()).start()
    server.origin = f"https://127.0.0.1:{running.port}"
    try:
        yield server
    finally:
        running.stop()


def fake_maa(key: SigningKey, *, jwks_uri: str | None = None, issuer: str | None = None) -> Handler:
    """The attestation endpoint (tests/support/fake_maa.py) as a handler for :func:`serve`."""

    def handle(request: Received, origin: str) -> Reply:
        reply = maa_metadata(
            request.path,
            issuer=issuer if issuer is not None else origin,
            jwks_uri=jwks_uri if jwks_uri is not None else origin + "/certs",
            jwks=key.jwks(),
        )
        return reply if reply is not None else (404, {"error": "not found"})

    return handle


def fake_instance(
    key: SigningKey,
    maa_origin: Callable[[], str],
    *,
    sha: str = GIT_SHA,
    claims: Callable[[str, str], dict[str, Any]] | None = None,
) -> Handler:
    """A handler serving TAP's /health and /attestation in enclave mode.

    ``claims(maa_origin, nonce)`` builds the token's claims; by default a
    valid token for HOSTDATA bound to the nonce of the request.
    """

    def handle(request: Received, origin: str) -> Reply:
        if request.path == "/health":
            return 200, {"status": "ok", "build": {"version": "0.1.0", "sha": sha}}
        if request.path == "/attestation":
            nonce = request.query.get("nonce", [""])[0]
            make = claims or (
                lambda iss, n: good_claims(iss=iss, now=datetime.now(tz=UTC), nonce=n)
            )
            return 200, {"token": mint(key, make(maa_origin(), nonce))}
        return 404, {"error": "not found"}

    return handle


# -- measurement log rows ------------------------------------------------------


def row_fields(**overrides: Any) -> dict[str, Any]:
    """The fields of a valid log row (with its policy published)."""
    import base64

    fields: dict[str, Any] = {
        "cce_hostdata": HOSTDATA,
        "cce_policy": base64.b64encode(POLICY).decode("ascii"),
        "cosign_identity": "https://github.com/example/tap/.github/workflows/deploy.yml@refs/heads/main",
        "deployed_at": "2026-01-01T00:00:00Z",
        "environment": "production",
        "git_sha": GIT_SHA,
        "image_digest": "sha256:" + "2" * 64,
        "kek": "kv-tap-example/tap-kek",
        "maa_endpoint": ENDPOINT,
        "run_url": "https://github.com/example/tap/actions/runs/1",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def log_line(**overrides: Any) -> bytes:
    return (
        json.dumps(row_fields(**overrides), sort_keys=True, separators=(",", ":")).encode() + b"\n"
    )


# -- fixtures ------------------------------------------------------------------

_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a proxy or a trust store it did not set itself."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    """The attestation endpoint's key (one per session: RSA generation is slow)."""
    return make_signing_key()


@pytest.fixture(scope="session")
def attacker_key() -> SigningKey:
    """A key nobody trusts."""
    return make_signing_key("attacker-key")


@pytest.fixture(scope="session")
def loopback_tls(tmp_path_factory: pytest.TempPathFactory) -> LoopbackTls:
    return make_loopback_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_client(loopback_tls: LoopbackTls) -> Iterator[httpx.Client]:
    with loopback_tls.client() as client:
        yield client
