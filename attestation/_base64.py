"""Strict, canonical base64 decoding.

Only one spelling of each byte string is accepted: no whitespace, no missing
or extra padding in standard base64, no padding in base64url, and no non-zero
bits after the last byte.  Accepting several spellings of one value lets an
attacker change a token's bytes without changing what it says.

>>> b64url_decode("AQAB")
b'\\x01\\x00\\x01'
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["b64_decode", "b64url_decode", "b64url_encode"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as unpadded base64url, the JOSE form."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url.

    Raises:
        ValueError: the text has characters outside the alphabet, padding, an
            impossible length, or non-canonical trailing bits.
    """
    if _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data


def b64_decode(text: str) -> bytes:
    """Decode standard, padded base64.

    Raises:
        ValueError: the text is not canonical standard base64.
    """
    if _B64.fullmatch(text) is None:
        raise ValueError("not standard base64")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("not standard base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise ValueError("non-canonical base64")
    return data
