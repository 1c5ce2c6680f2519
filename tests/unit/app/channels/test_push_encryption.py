"""Web push encryption (RFC 8291): what we send opens with the reference ``http_ece``."""

from __future__ import annotations

import base64

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.channels.push import ece


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def browser() -> tuple[ec.EllipticCurvePrivateKey, str, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return key, _b64(public), b"0123456789abcdef"


@pytest.mark.parametrize("payload", [b"", b'{"title": "TAP"}', b"x" * ece.MAX_PAYLOAD])
def test_the_browser_decrypts_what_is_sent(
    browser: tuple[ec.EllipticCurvePrivateKey, str, bytes], payload: bytes
) -> None:
    key, p256dh, auth = browser

    body = ece.encrypt(payload, p256dh=p256dh, auth=_b64(auth))

    assert len(body) <= ece.RECORD_SIZE
    assert http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm") == payload


def test_every_message_has_its_own_salt_and_key(
    browser: tuple[ec.EllipticCurvePrivateKey, str, bytes],
) -> None:
    _, p256dh, auth = browser
    one = ece.encrypt(b"same", p256dh=p256dh, auth=_b64(auth))
    two = ece.encrypt(b"same", p256dh=p256dh, auth=_b64(auth))

    assert one[:16] != two[:16] and one[21:86] != two[21:86]


@pytest.mark.parametrize(
    ("p256dh", "auth"),
    [
        ("not base64!", _b64(b"0123456789abcdef")),
        (_b64(b"\x04" + b"\x01" * 64), _b64(b"0123456789abcdef")),  # not on the curve
        (_b64(b"\x04" * 33), _b64(b"0123456789abcdef")),  # compressed size
        (None, _b64(b"short")),
    ],
)
def test_malformed_subscription_keys_are_refused(
    browser: tuple[ec.EllipticCurvePrivateKey, str, bytes], p256dh: str | None, auth: str
) -> None:
    with pytest.raises(ece.UnusableKeys):
        ece.encrypt(b"x", p256dh=p256dh or browser[1], auth=auth)


def test_a_payload_over_one_record_is_refused(
    browser: tuple[ec.EllipticCurvePrivateKey, str, bytes],
) -> None:
    _, p256dh, auth = browser
    with pytest.raises(ValueError, match="at most"):
        ece.encrypt(b"x" * (ece.MAX_PAYLOAD + 1), p256dh=p256dh, auth=_b64(auth))
