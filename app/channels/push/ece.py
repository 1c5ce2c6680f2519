"""A push message body for one subscription: its keys read, the size checked, then
:func:`app.crypto.webpush_encrypt` (RFC 8291, ``aes128gcm``)."""

from __future__ import annotations

import base64
import binascii
from typing import Final

from app.crypto import WEBPUSH_RECORD_SIZE, webpush_encrypt
from app.errors import CryptoError

RECORD_SIZE: Final = WEBPUSH_RECORD_SIZE
_HEADER_BYTES: Final = 16 + 4 + 1 + 65
MAX_PAYLOAD: Final = RECORD_SIZE - _HEADER_BYTES - 16 - 1
"""The largest plaintext that fits: body limit minus header, tag and padding delimiter."""


class UnusableKeys(ValueError):
    """The subscription's ``p256dh`` or ``auth`` is not a P-256 point / 16-byte secret."""


def encrypt(payload: bytes, *, p256dh: str, auth: str) -> bytes:
    """The ``aes128gcm`` body of one message to one subscription.

    Raises:
        UnusableKeys: the subscription's keys are malformed.
        ValueError: the payload is longer than :data:`MAX_PAYLOAD`.
    """
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a push payload holds at most {MAX_PAYLOAD} bytes")
    ua_public = _b64url(p256dh)
    auth_secret = _b64url(auth)
    if len(auth_secret) != 16 or len(ua_public) != 65:
        raise UnusableKeys("p256dh must be an uncompressed P-256 point and auth 16 bytes")
    try:
        return webpush_encrypt(payload, ua_public=ua_public, auth_secret=auth_secret)
    except CryptoError:
        raise UnusableKeys("p256dh is not a point on P-256") from None


def _b64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise UnusableKeys("subscription keys must be base64url") from None
