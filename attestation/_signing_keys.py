"""The signing keys of an attestation endpoint, and how to obtain them.

Keys come from exactly one place: the endpoint's own OpenID metadata
(``<origin>/.well-known/openid-configuration``), whose ``issuer`` must be the
endpoint and whose ``jwks_uri`` must be on the endpoint's origin.  For offline
use the key set can be read from a file the user fetched themselves.

Only the key a token names is turned into a public key, and that key must be::

    kty "RSA", no "alg" other than RS256, no "use" other than "sig",
    x5c[0] an X.509 certificate valid now, or else n and e,
    n and e (when both forms are present) equal to the certificate's,
    a modulus of at least 2048 bits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from attestation._base64 import b64_decode, b64url_decode
from attestation._checks import Held
from attestation._endpoint import Origin
from attestation._http import get_json
from attestation._json import parse_object
from attestation._types import JSONObject, JSONValue
from attestation.errors import FetchError, InputError, VerificationError

__all__ = [
    "DISCOVERY_PATH",
    "MIN_RSA_BITS",
    "SigningKeys",
    "check_fetched_keys",
    "check_key_file",
    "fetch_signing_keys",
    "load_signing_keys",
]

logger = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
"""Where an attestation endpoint publishes its OpenID metadata."""

MIN_RSA_BITS = 2048
"""Smallest RSA modulus accepted for a token signing key."""


def _render(value: JSONValue) -> str:
    return "missing or null" if value is None else repr(value)


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """A JSON Web Key Set, indexed by ``kid``.

    ``jwks_uri`` is where the set was fetched from, or ``None`` when it was
    read from a file.

    Raises:
        InputError: on construction when a key has no string ``kid`` or two
            keys share one (a lookup by ``kid`` must be unambiguous).
    """

    origin: Origin
    jwks_uri: str | None
    keys: Mapping[str, JSONObject]

    @classmethod
    def from_jwks(cls, jwks: JSONObject, *, origin: Origin, jwks_uri: str | None) -> SigningKeys:
        """Index the key set ``jwks`` (``{"keys": [...]}``) by ``kid``.

        Raises:
            InputError: ``keys`` is missing or not a list of objects, a key has
                no string ``kid``, or two keys share one.
        """
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise InputError("key set has no 'keys' list")
        by_kid: dict[str, JSONObject] = {}
        for entry in entries:
            if not isinstance(entry, dict):
                raise InputError("key set entry is not an object")
            kid = entry.get("kid")
            if not isinstance(kid, str) or not kid:
                raise InputError("key set entry has no string 'kid'")
            if kid in by_kid:
                raise InputError(f"key set has two keys with kid {kid!r}")
            by_kid[kid] = entry
        return cls(origin=origin, jwks_uri=jwks_uri, keys=MappingProxyType(by_kid))

    def public_key(self, kid: str, *, now: datetime) -> RSAPublicKey:
        """Return the RSA public key named ``kid``.

        Raises:
            VerificationError: no key has that ``kid`` (check ``header.kid``),
                or the key is unusable (check ``key.usable``).
        """
        entry = self.keys.get(kid)
        if entry is None:
            raise VerificationError(
                "header.kid",
                expected=f"one of the endpoint's key ids {sorted(self.keys)}",
                actual=repr(kid),
            )
        return _rsa_key(entry, now=now)


def _fail(expected: str, actual: str) -> VerificationError:
    return VerificationError("key.usable", expected=expected, actual=actual)


def _rsa_key(entry: JSONObject, *, now: datetime) -> RSAPublicKey:
    if entry.get("kty") != "RSA":
        raise _fail('kty "RSA"', _render(entry.get("kty")))
    if "alg" in entry and entry["alg"] != "RS256":
        raise _fail('alg "RS256" or absent', _render(entry["alg"]))
    if "use" in entry and entry["use"] != "sig":
        raise _fail('use "sig" or absent', _render(entry["use"]))
    from_cert = _key_from_x5c(entry, now=now) if "x5c" in entry else None
    from_numbers = _key_from_numbers(entry) if ("n" in entry or "e" in entry) else None
    if (
        from_cert is not None
        and from_numbers is not None
        and from_cert.public_numbers() != from_numbers.public_numbers()
    ):
        raise _fail("n and e equal to the certificate's key", "a different key")
    key = from_cert if from_cert is not None else from_numbers
    if key is None:
        raise _fail("x5c or n and e", "neither")
    if key.key_size < MIN_RSA_BITS:
        raise _fail(f"an RSA modulus of at least {MIN_RSA_BITS} bits", f"{key.key_size} bits")
    return key


def _key_from_x5c(entry: JSONObject, *, now: datetime) -> RSAPublicKey:
    chain = entry["x5c"]
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise _fail("x5c as a non-empty list of base64 certificates", "another shape")
    try:
        cert = x509.load_der_x509_certificate(b64_decode(chain[0]))
        key = cert.public_key()
    except ValueError as exc:
        raise _fail("x5c[0] an X.509 certificate", "unparseable") from exc
    if not isinstance(key, RSAPublicKey):
        raise _fail("x5c[0] certifying an RSA key", type(key).__name__)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if not not_before <= now <= not_after:
        raise _fail(
            f"x5c[0] valid now ({now.isoformat()})",
            f"valid from {not_before.isoformat()} to {not_after.isoformat()}",
        )
    return key


def _key_from_numbers(entry: JSONObject) -> RSAPublicKey:
    n, e = entry.get("n"), entry.get("e")
    if not isinstance(n, str) or not isinstance(e, str):
        raise _fail("n and e as base64url strings", f"n {_render(n)}, e {_render(e)}")
    try:
        numbers = RSAPublicNumbers(
            e=int.from_bytes(b64url_decode(e), "big"),
            n=int.from_bytes(b64url_decode(n), "big"),
        )
        return numbers.public_key()
    except ValueError as exc:
        raise _fail("n and e forming an RSA public key", "invalid numbers") from exc


def fetch_signing_keys(client: httpx.Client, origin: Origin) -> SigningKeys:
    """Fetch the signing keys of the attestation endpoint at ``origin``.

    Raises:
        FetchError: the metadata or the key set could not be fetched.
        VerificationError: the metadata names another ``issuer`` (check
            ``endpoint.issuer``) or a ``jwks_uri`` off the endpoint's origin
            (check ``endpoint.jwks_uri``).
        InputError: the key set is malformed.
    """
    metadata = get_json(client, origin.join(DISCOVERY_PATH))
    issuer = metadata.get("issuer")
    if not isinstance(issuer, str) or issuer.rstrip("/") != origin.url:
        raise VerificationError("endpoint.issuer", expected=origin.url, actual=_render(issuer))
    jwks_uri = metadata.get("jwks_uri")
    # NOTE: a key set hosted anywhere else could be anybody's key set.
    if not isinstance(jwks_uri, str) or not origin.owns(jwks_uri):
        raise VerificationError(
            "endpoint.jwks_uri",
            expected=f"a URL on {origin.url}",
            actual=_render(jwks_uri),
        )
    try:
        keys = SigningKeys.from_jwks(get_json(client, jwks_uri), origin=origin, jwks_uri=jwks_uri)
    except InputError as exc:
        raise FetchError(f"key set at {jwks_uri}: {exc.message}") from exc
    logger.debug("fetched %d signing keys from %s", len(keys.keys), origin.url)
    return keys


def load_signing_keys(path: Path, origin: Origin) -> SigningKeys:
    """Read a key set the user fetched from ``origin`` themselves.

    Raises:
        InputError: the file is unreadable or not a key set.
    """
    try:
        jwks = parse_object(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read key set {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InputError(f"key set {path}: {exc}") from exc
    return SigningKeys.from_jwks(jwks, origin=origin, jwks_uri=None)


def check_fetched_keys(client: httpx.Client, origin: Origin) -> Held[SigningKeys]:
    """The ``endpoint.keys`` check: fetch the key set of ``origin``.

    Raises:
        FetchError, VerificationError, InputError: as :func:`fetch_signing_keys`.
    """
    keys = fetch_signing_keys(client, origin)
    return Held(
        "endpoint.keys",
        f"the key set {origin.url} publishes",
        f"{len(keys.keys)} keys from {keys.jwks_uri}",
        keys,
    )


def check_key_file(path: Path, origin: Origin) -> Held[SigningKeys]:
    """The ``endpoint.keys`` check, offline: read a key set from ``path``.

    Raises:
        InputError: as :func:`load_signing_keys`.
    """
    keys = load_signing_keys(path, origin)
    return Held(
        "endpoint.keys",
        f"a key set fetched from {origin.url}",
        f"{len(keys.keys)} keys from the file {path.name}",
        keys,
    )
