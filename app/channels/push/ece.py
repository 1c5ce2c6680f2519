"""Message encryption for web push: RFC 8291 over the ``aes128gcm`` content coding of RFC 8188.

Built from :mod:`cryptography`'s ECDH, HKDF and AES-GCM rather than taken from
pywebpush: pywebpush needs ``http_ece``, which is published only as a source
archive, and the image installs hash-pinned wheels only. The tests decrypt
every message with ``http_ece`` itself (the fake push service), so this code
is checked against the reference implementation end to end.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

RECORD_SIZE: Final = 4096
"""One record holds the whole message; push services accept 4096 bytes of body."""
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
        ua_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public)
    except ValueError:
        raise UnusableKeys("p256dh is not a point on P-256") from None
    # A fresh sender key and salt per message (RFC 8291 §3.1, RFC 8188 §2.1).
    as_key = ec.generate_private_key(ec.SECP256R1())
    as_public = as_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    ecdh_secret = as_key.exchange(ec.ECDH(), ua_key)
    ikm = _hkdf(
        ecdh_secret, salt=auth_secret, info=b"WebPush: info\x00" + ua_public + as_public, length=32
    )
    salt = os.urandom(16)
    cek = _hkdf(ikm, salt=salt, info=b"Content-Encoding: aes128gcm\x00", length=16)
    nonce = _hkdf(ikm, salt=salt, info=b"Content-Encoding: nonce\x00", length=12)
    # 0x02: this is the last (and only) record, with no further padding.
    ciphertext = AESGCM(cek).encrypt(nonce, payload + b"\x02", None)
    header = salt + struct.pack("!IB", RECORD_SIZE, len(as_public)) + as_public
    return header + ciphertext


def _hkdf(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def _b64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise UnusableKeys("subscription keys must be base64url") from None
