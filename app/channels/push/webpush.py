"""Encrypt, sign and send one web push message; the only module that uses py_vapid.

The payload is encrypted with ``aes128gcm`` (RFC 8188/8291) to the
subscription's ``p256dh`` and ``auth``; the request carries a VAPID JWT
(RFC 8292) whose ``aud`` is the push service's origin, ``sub`` the operator
contact and ``exp`` at most :data:`JWT_LIFETIME` ahead (the limit is 24 h),
plus a ``TTL``. Library errors become :class:`PushRefused` here.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import aiohttp
from py_vapid import Vapid02

from app.channels.push import ece
from app.secret import Secret

logger = logging.getLogger(__name__)

JWT_LIFETIME: Final = dt.timedelta(hours=12)
PUSH_TIMEOUT: Final = aiohttp.ClientTimeout(total=10)


class PushRefused(Exception):  # noqa: N818 - an outcome the channel handles per subscription
    """The message could not be sent; ``gone`` when the service says the subscription is dead."""

    def __init__(self, message: str, *, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


@dataclass(frozen=True, slots=True)
class Signer:
    """The deployment's VAPID identity."""

    private_key: Secret
    subject: str

    def headers(self, endpoint: str, now: dt.datetime) -> dict[str, str]:
        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "sub": self.subject,
            "exp": int((now + JWT_LIFETIME).timestamp()),
        }
        signed: dict[str, str] = Vapid02.from_raw(self.private_key.reveal().encode()).sign(claims)
        return signed


def encrypt(payload: bytes, *, p256dh: str, auth: str) -> bytes:
    """The aes128gcm body for one subscription. Raises PushRefused for unusable keys."""
    try:
        return ece.encrypt(payload, p256dh=p256dh, auth=auth)
    except ece.UnusableKeys as exc:
        raise PushRefused(f"unusable subscription keys ({exc})", gone=True) from None
    except ValueError as exc:
        raise PushRefused(str(exc)) from None


async def send(
    http: aiohttp.ClientSession,
    signer: Signer,
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    payload: bytes,
    ttl_secs: int,
) -> None:
    """Send one message. Raises PushRefused (``gone`` on 404/410)."""
    body = encrypt(payload, p256dh=p256dh, auth=auth)
    headers = {
        **signer.headers(endpoint, dt.datetime.now(dt.UTC)),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(ttl_secs),
        "Urgency": "high",
    }
    try:
        async with http.post(
            endpoint, data=body, headers=headers, timeout=PUSH_TIMEOUT, allow_redirects=False
        ) as response:
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PushRefused(f"push service unreachable ({type(exc).__name__})") from None
    if status in (404, 410):
        raise PushRefused(f"push service answered {status}", gone=True)
    if status >= 300:
        raise PushRefused(f"push service answered {status}")
