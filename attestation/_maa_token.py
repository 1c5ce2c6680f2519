"""Verification of Microsoft Azure Attestation (MAA) tokens for SEV-SNP containers.

An MAA token is a compact JWS signed with RS256 by the attestation endpoint.
It says what the hardware measured: above all ``x-ms-sevsnpvm-hostdata``, the
SHA-256 of the confidential-container policy the container group was launched
with, and ``x-ms-runtime``, the JSON runtime data the workload asked to be
attested (TAP puts a ``nonce`` member there so a verifier knows the token is
fresh).

The checks, in the order they run; the first failure stops verification::

     (1) token.format      three base64url segments; header and payload are
                           strict JSON objects; the signature is not empty
     (2) header.alg        exactly "RS256" (an allow-list of one, never read
                           from the token: refuses "none" and HS256/384/512)
     (3) header.crit       absent: no header extension is understood
     (4) header.typ        "JWT" when present
     (5) header.jku        when present, on the endpoint's origin and equal to
                           the key set URL the endpoint publishes
     (6) header.kid        names a key of the endpoint's own key set, which must
                           be usable (key.usable, see _signing_keys)
     (7) signature         RSASSA-PKCS1-v1_5 with SHA-256 over header.payload
     (8) claim.iss         the endpoint's origin, exactly
     (9) claim.exp         present and numeric; now < exp + leeway
    (10) claim.nbf         present and numeric; nbf <= now + leeway
    (11) claim.iat         present and numeric; iat <= now + leeway
         -- verify_signed_token stops here; verify_token goes on --
    (12) claim.x-ms-attestation-type           "sevsnpvm"
    (13) claim.x-ms-compliance-status          "azure-compliant-uvm"
    (14) claim.x-ms-sevsnpvm-is-debuggable     the JSON boolean false
    (15) claim.x-ms-sevsnpvm-vmpl              the JSON integer 0
    (16) claim.x-ms-sevsnpvm-hostdata          64 hex digits, one of the expected values
    (17) claim.x-ms-runtime.nonce              when a nonce was sent: the runtime
                                               data is an object whose "nonce"
                                               member is that nonce

Every claim named above must be present; a missing claim fails its check.

Usage::

    keys = fetch_signing_keys(client, Origin.parse("https://x.attest.azure.net"))
    verified = verify_token(token, keys=keys, allowed_hostdata={hostdata},
                            nonce=None, now=datetime.now(tz=UTC))
"""

from __future__ import annotations

import hmac
import logging
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from attestation._base64 import b64url_decode
from attestation._checks import CheckRunner, Held, Report
from attestation._json import parse_object
from attestation._signing_keys import SigningKeys
from attestation._types import Claims, JSONObject, JSONValue
from attestation.errors import InputError, VerificationError

__all__ = [
    "ALGORITHM",
    "CLOCK_LEEWAY_SECS",
    "MAX_TOKEN_CHARS",
    "VerifiedToken",
    "normalize_hostdata",
    "verify_signed_token",
    "verify_token",
]

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
"""The only signature algorithm accepted."""

CLOCK_LEEWAY_SECS = 60
"""Clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""

MAX_TOKEN_CHARS = 64 * 1024
"""Longest token accepted; real MAA tokens are a few kilobytes."""

ATTESTATION_TYPE = "sevsnpvm"
COMPLIANCE_STATUS = "azure-compliant-uvm"
VMPL = 0

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose every check held."""

    claims: Claims
    """The token's claims, read-only."""
    report: Report
    """The checks that held, in order."""

    @property
    def hostdata(self) -> str:
        """The verified ``x-ms-sevsnpvm-hostdata`` in lowercase hex, or ``""``
        when the token was only checked for authenticity."""
        value = self.claims.get("x-ms-sevsnpvm-hostdata")
        return value.lower() if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class _Parsed:
    header: JSONObject
    payload: JSONObject
    signing_input: bytes
    signature: bytes


def normalize_hostdata(value: str) -> str:
    """Return ``value`` as 64 lowercase hex digits.

    Raises:
        InputError: ``value`` is not 64 hex digits.
    """
    lowered = value.strip().lower()
    if _HEX64.fullmatch(lowered) is None:
        raise InputError(f"hostdata must be 64 hex digits, got {value!r}")
    return lowered


def _show(value: JSONValue) -> str:
    if value is None:
        return "missing or null"
    if isinstance(value, str) and len(value) > 80:
        return repr(value[:77] + "...")
    return repr(value) if not isinstance(value, bool) else str(value).lower()


# -- (1) to (7): the JWS -------------------------------------------------------


def _check_format(token: str) -> Held[_Parsed]:
    name = "token.format"
    expected = "a compact JWS: three base64url segments, JSON header and payload"
    if len(token) > MAX_TOKEN_CHARS:
        raise VerificationError(name, expected=expected, actual=f"{len(token)} characters")
    segments = token.split(".")
    if len(segments) != 3:
        raise VerificationError(name, expected=expected, actual=f"{len(segments)} segments")
    try:
        header = parse_object(b64url_decode(segments[0]))
        payload = parse_object(b64url_decode(segments[1]))
        signature = b64url_decode(segments[2])
    except ValueError as exc:
        raise VerificationError(name, expected=expected, actual=str(exc)) from exc
    if not signature:
        raise VerificationError(name, expected=expected, actual="an empty signature")
    signing_input = f"{segments[0]}.{segments[1]}".encode("ascii")
    parsed = _Parsed(header, payload, signing_input, signature)
    return Held(name, expected, "a compact JWS", parsed)


def _check_alg(header: JSONObject) -> Held[None]:
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise VerificationError("header.alg", expected=ALGORITHM, actual=_show(alg))
    return Held("header.alg", ALGORITHM, ALGORITHM, None)


def _check_crit(header: JSONObject) -> Held[None]:
    if "crit" in header:
        raise VerificationError("header.crit", expected="absent", actual=_show(header["crit"]))
    return Held("header.crit", "absent", "absent", None)


def _check_typ(header: JSONObject) -> Held[None]:
    typ = header.get("typ", "JWT")
    if typ != "JWT":
        raise VerificationError("header.typ", expected='"JWT" or absent', actual=_show(typ))
    return Held("header.typ", '"JWT" or absent', _show(typ), None)


def _check_jku(header: JSONObject, keys: SigningKeys) -> Held[None]:
    name = "header.jku"
    if "jku" not in header:
        return Held(name, "the endpoint's key set URL, or absent", "absent", None)
    jku = header["jku"]
    expected = keys.jwks_uri if keys.jwks_uri is not None else f"a URL on {keys.origin.url}"
    # NOTE: jku is never fetched; it is only compared with what we already trust.
    on_origin = isinstance(jku, str) and keys.origin.owns(jku)
    if not on_origin or (keys.jwks_uri is not None and jku != keys.jwks_uri):
        raise VerificationError(name, expected=expected, actual=_show(jku))
    return Held(name, expected, _show(jku), None)


def _check_kid(header: JSONObject, keys: SigningKeys, now: datetime) -> Held[RSAPublicKey]:
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise VerificationError(
            "header.kid", expected="a key id of the endpoint's key set", actual=_show(kid)
        )
    key = keys.public_key(kid, now=now)
    return Held("header.kid", "a key id of the endpoint's key set", repr(kid), key)


def _check_signature(parsed: _Parsed, key: RSAPublicKey) -> Held[None]:
    name = "signature"
    expected = "a valid RS256 signature by that key"
    try:
        key.verify(parsed.signature, parsed.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise VerificationError(name, expected=expected, actual="an invalid signature") from exc
    return Held(name, expected, "valid", None)


# -- (8) to (11): registered claims --------------------------------------------


def _check_iss(claims: JSONObject, keys: SigningKeys) -> Held[None]:
    iss = claims.get("iss")
    if iss != keys.origin.url:
        raise VerificationError("claim.iss", expected=keys.origin.url, actual=_show(iss))
    return Held("claim.iss", keys.origin.url, keys.origin.url, None)


def _numeric_date(claims: JSONObject, claim: str, expected: str) -> float:
    value = claims.get(claim)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise VerificationError(f"claim.{claim}", expected=expected, actual=_show(value))
    return float(value)


def _check_exp(claims: JSONObject, now: float) -> Held[None]:
    expected = f"a time after now - {CLOCK_LEEWAY_SECS} s ({int(now)})"
    exp = _numeric_date(claims, "exp", expected)
    if not now < exp + CLOCK_LEEWAY_SECS:
        raise VerificationError("claim.exp", expected=expected, actual=f"{exp:.0f} (expired)")
    return Held("claim.exp", expected, f"{exp:.0f}", None)


def _check_nbf(claims: JSONObject, now: float) -> Held[None]:
    expected = f"a time before now + {CLOCK_LEEWAY_SECS} s ({int(now)})"
    nbf = _numeric_date(claims, "nbf", expected)
    if not nbf <= now + CLOCK_LEEWAY_SECS:
        raise VerificationError("claim.nbf", expected=expected, actual=f"{nbf:.0f} (not yet valid)")
    return Held("claim.nbf", expected, f"{nbf:.0f}", None)


def _check_iat(claims: JSONObject, now: float) -> Held[None]:
    expected = f"a time before now + {CLOCK_LEEWAY_SECS} s ({int(now)})"
    iat = _numeric_date(claims, "iat", expected)
    if not iat <= now + CLOCK_LEEWAY_SECS:
        raise VerificationError("claim.iat", expected=expected, actual=f"{iat:.0f} (in the future)")
    return Held("claim.iat", expected, f"{iat:.0f}", None)


# -- (12) to (17): the SEV-SNP measurement -------------------------------------


def _check_equal(claims: Claims, claim: str, wanted: str | int | bool) -> Held[None]:
    value = claims.get(claim)
    # NOTE: compare type as well as value: true != 1 and "0" != 0 here.
    if type(value) is not type(wanted) or value != wanted:
        raise VerificationError(f"claim.{claim}", expected=_show(wanted), actual=_show(value))
    return Held(f"claim.{claim}", _show(wanted), _show(value), None)


def _check_hostdata(claims: Claims, allowed: frozenset[str]) -> Held[None]:
    name = "claim.x-ms-sevsnpvm-hostdata"
    value = claims.get("x-ms-sevsnpvm-hostdata")
    expected = next(iter(allowed)) if len(allowed) == 1 else f"one of {sorted(allowed)}"
    if not isinstance(value, str) or _HEX64.fullmatch(value.lower()) is None:
        raise VerificationError(name, expected=expected, actual=_show(value))
    if value.lower() not in allowed:
        raise VerificationError(name, expected=expected, actual=value.lower())
    return Held(name, expected, value.lower(), None)


def _check_nonce(claims: Claims, nonce: str) -> Held[None]:
    name = "claim.x-ms-runtime.nonce"
    runtime = claims.get("x-ms-runtime")
    if not isinstance(runtime, dict):
        raise VerificationError(name, expected=repr(nonce), actual="no runtime data object")
    sent = runtime.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, nonce):
        raise VerificationError(name, expected=repr(nonce), actual=_show(sent))
    return Held(name, repr(nonce), repr(sent), None)


# -- runners -------------------------------------------------------------------


def _authenticate(token: str, keys: SigningKeys, now: datetime, checks: CheckRunner) -> JSONObject:
    parsed = checks.run(lambda: _check_format(token))  # (1)
    header = parsed.header
    checks.run(lambda: _check_alg(header))  # (2)
    checks.run(lambda: _check_crit(header))  # (3)
    checks.run(lambda: _check_typ(header))  # (4)
    checks.run(lambda: _check_jku(header, keys))  # (5)
    key = checks.run(lambda: _check_kid(header, keys, now))  # (6)
    checks.run(lambda: _check_signature(parsed, key))  # (7)
    claims = parsed.payload
    checks.run(lambda: _check_iss(claims, keys))  # (8)
    seconds = now.timestamp()
    checks.run(lambda: _check_exp(claims, seconds))  # (9)
    checks.run(lambda: _check_nbf(claims, seconds))  # (10)
    checks.run(lambda: _check_iat(claims, seconds))  # (11)
    return claims


def _check_measurement(
    claims: Claims, allowed: frozenset[str], nonce: str | None, checks: CheckRunner
) -> None:
    checks.run(lambda: _check_equal(claims, "x-ms-attestation-type", ATTESTATION_TYPE))  # (12)
    checks.run(lambda: _check_equal(claims, "x-ms-compliance-status", COMPLIANCE_STATUS))  # (13)
    checks.run(lambda: _check_equal(claims, "x-ms-sevsnpvm-is-debuggable", False))  # (14)
    checks.run(lambda: _check_equal(claims, "x-ms-sevsnpvm-vmpl", VMPL))  # (15)
    checks.run(lambda: _check_hostdata(claims, allowed))  # (16)
    if nonce is not None:
        checks.run(lambda: _check_nonce(claims, nonce))  # (17)


def _allowed(hostdata: Collection[str]) -> frozenset[str]:
    if isinstance(hostdata, str):
        raise TypeError("allowed_hostdata must be a collection of strings, not a string")
    allowed = frozenset(normalize_hostdata(value) for value in hostdata)
    if not allowed:
        raise InputError("no expected hostdata given; nothing could match")
    return allowed


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise TypeError("now must be an aware datetime")
    return now


def verify_signed_token(
    token: str, *, keys: SigningKeys, now: datetime, checks: CheckRunner | None = None
) -> VerifiedToken:
    """Check that ``token`` was signed by the endpoint of ``keys`` and is valid
    at ``now``: steps (1) to (11).  Says nothing about what was measured.

    Raises:
        VerificationError: a check failed; ``check`` names it.
    """
    runner = checks if checks is not None else CheckRunner()
    claims = _authenticate(token, keys, _aware(now), runner)
    return VerifiedToken(MappingProxyType(claims), runner.report())


def verify_token(
    token: str,
    *,
    keys: SigningKeys,
    allowed_hostdata: Collection[str],
    nonce: str | None,
    now: datetime,
    checks: CheckRunner | None = None,
) -> VerifiedToken:
    """Verify an MAA token for a SEV-SNP confidential container: steps (1) to (17).

    ``allowed_hostdata`` holds the acceptable policy digests (usually one).
    ``nonce`` is the nonce sent with the attestation request, or ``None``
    when none was sent (the token then proves nothing about freshness).

    Raises:
        InputError: ``allowed_hostdata`` is empty or holds a malformed value.
        VerificationError: a check failed; ``check`` names it.
    """
    allowed = _allowed(allowed_hostdata)
    runner = checks if checks is not None else CheckRunner()
    claims = _authenticate(token, keys, _aware(now), runner)
    _check_measurement(claims, allowed, nonce, runner)
    logger.debug("token verified against %s", keys.origin.url)
    return VerifiedToken(MappingProxyType(claims), runner.report())
