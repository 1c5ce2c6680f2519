"""RSA JSON Web Keys: the released KEK (private) and an operator's new KEK (public).

What is accepted, and why:

- ``kty`` is ``RSA`` or ``RSA-HSM`` (Key Vault marks HSM keys with the
  latter); nothing else can unwrap an RSA-OAEP-256 wrap.
- The modulus has at least :data:`MIN_RSA_BITS` bits.
- A private key carries ``n, e, d, p, q``. The CRT values ``dp, dq, qi`` are
  recomputed from ``d, p, q`` rather than trusted, and the key is checked for
  consistency (``n == p * q`` and OpenSSL's own key check).
- A public key given to an operator tool carries no private member at all
  (:data:`PRIVATE_MEMBERS`): the private half of a KEK must never leave Key
  Vault except by attested release.

The sidecar returns the JWK as a JSON *string*; :func:`jwk_object` accepts that
and a plain object.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import rsa

from enclave.errors import CustodyError

MIN_RSA_BITS: Final = 2048
RSA_KTYS: Final = frozenset({"RSA", "RSA-HSM"})
PRIVATE_MEMBERS: Final = ("d", "p", "q", "dp", "dq", "qi", "oth")
MAX_JWK_CHARS: Final = 64 * 1024

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def jwk_object(value: object, *, step: str) -> dict[str, Any]:
    """Return the JWK in ``value``: a JSON object, or a string holding one.

    Raises CustodyError(step) for anything else.
    """
    if isinstance(value, str):
        if len(value) > MAX_JWK_CHARS:
            raise CustodyError(step, "the key is larger than any RSA JWK we accept")
        try:
            value = json.loads(value)
        except ValueError:
            raise CustodyError(step, "the key is a string but not a JSON object") from None
    if not isinstance(value, dict):
        raise CustodyError(step, f"the key is a JSON {type(value).__name__}, expected a JWK object")
    return value


def _uint(jwk: dict[str, Any], member: str, *, step: str) -> int:
    raw = jwk.get(member)
    if not isinstance(raw, str) or not raw or _B64URL.fullmatch(raw) is None:
        raise CustodyError(step, f"the JWK member {member!r} is missing or not base64url")
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise CustodyError(step, f"the JWK member {member!r} is not base64url") from None
    return int.from_bytes(data, "big")


def _check_kty(jwk: dict[str, Any], *, step: str) -> None:
    kty = jwk.get("kty")
    if kty not in RSA_KTYS:
        shown = kty if isinstance(kty, str) and len(kty) < 20 else type(kty).__name__
        raise CustodyError(
            step, f"the key type is {shown!r}; only RSA or RSA-HSM keys can be used as the KEK"
        )


def _check_size(n: int, *, step: str) -> None:
    if n.bit_length() < MIN_RSA_BITS:
        raise CustodyError(
            step, f"the RSA modulus has {n.bit_length()} bits; at least {MIN_RSA_BITS} are required"
        )


def private_key_from_jwk(jwk: dict[str, Any], *, step: str) -> rsa.RSAPrivateKey:
    """Build the KEK from a released private JWK. Raises CustodyError(step)."""
    _check_kty(jwk, step=step)
    n = _uint(jwk, "n", step=step)
    _check_size(n, step=step)
    e = _uint(jwk, "e", step=step)
    if not all(isinstance(jwk.get(m), str) for m in ("d", "p", "q")):
        raise CustodyError(
            step, "the released key has no private part (d, p, q); check the key is exportable"
        )
    d, p, q = (_uint(jwk, m, step=step) for m in ("d", "p", "q"))
    if p * q != n:
        raise CustodyError(step, "the released key is inconsistent (p * q != n)")
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e=e, n=n),
    )
    try:
        return numbers.private_key()
    except ValueError:
        raise CustodyError(step, "the released key is not a valid RSA key") from None


def public_key_from_jwk(jwk: dict[str, Any], *, step: str) -> rsa.RSAPublicKey:
    """Build a KEK's public half. Refuses any private member. Raises CustodyError(step)."""
    present = [m for m in PRIVATE_MEMBERS if m in jwk]
    if present:
        raise CustodyError(
            step,
            f"the JWK carries private members ({', '.join(present)}); give only the public key "
            "(the private half must never leave Key Vault)",
        )
    _check_kty(jwk, step=step)
    n = _uint(jwk, "n", step=step)
    _check_size(n, step=step)
    e = _uint(jwk, "e", step=step)
    try:
        return rsa.RSAPublicNumbers(e=e, n=n).public_key()
    except ValueError:
        raise CustodyError(step, "the JWK is not a valid RSA public key") from None


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(key: rsa.RSAPublicKey) -> dict[str, str]:
    """The public JWK of ``key`` (``kty``, ``n``, ``e``)."""
    numbers = key.public_numbers()
    return {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}


def private_jwk(key: rsa.RSAPrivateKey, *, kty: str = "RSA") -> dict[str, str]:
    """The private JWK of ``key``, as Key Vault releases it (used by tools and fakes)."""
    numbers = key.private_numbers()
    jwk = public_jwk(key.public_key())
    jwk["kty"] = kty
    for member, value in (
        ("d", numbers.d),
        ("p", numbers.p),
        ("q", numbers.q),
        ("dp", numbers.dmp1),
        ("dq", numbers.dmq1),
        ("qi", numbers.iqmp),
    ):
        jwk[member] = _b64url_uint(value)
    return jwk
