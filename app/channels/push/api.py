"""``/push/*`` and ``/dashboard-sw.js``: browsers subscribe to approval notifications.

The service worker is served by :mod:`app.channels.push.worker`.
``GET /push/vapid-public-key`` is public (404 ``push_disabled`` without VAPID
keys, so the UI hides its toggle). Subscribing and unsubscribing need a
session; a subscription belongs to the caller in their active team, and
unsubscribing removes only the caller's own.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

from pydantic import BaseModel, ConfigDict
from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, respond
from app.admin.schemas import LongText
from app.channels.push.channel import wired
from app.channels.push.endpoints import check_endpoint
from app.errors import InvalidSubscription, PushDisabled
from app.store import db, push_subscriptions
from app.webstate import runtime

blueprint = Blueprint("push", __name__)

P256DH_BYTES: Final = 65
AUTH_BYTES: Final = 16


class PublicKeyOut(BaseModel):
    public_key: str


# NOTE: the admin API's text types: no NUL, no lone surrogate (Postgres stores neither).
class SubscribeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    endpoint: LongText
    p256dh: LongText
    auth: LongText


class UnsubscribeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    endpoint: LongText


class Subscribed(BaseModel):
    subscribed: bool


def _key_bytes(value: str, field: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSubscription(f"{field} is not base64url") from None


def _require_push() -> None:
    if not wired(runtime().config):
        raise PushDisabled("web push is not configured on this TAP")


@operation(
    blueprint,
    "GET",
    "/push/vapid-public-key",
    summary="The VAPID public key browsers subscribe with.",
    responses={200: PublicKeyOut},
    errors=(404,),
    authenticated=False,
)
async def vapid_public_key() -> Response:
    _require_push()
    key = runtime().config.vapid_public_key
    assert key is not None
    return respond(PublicKeyOut(public_key=key))


@operation(
    blueprint,
    "POST",
    "/push/subscribe",
    summary="Get approval notifications in this browser (for the caller's active team).",
    body=SubscribeBody,
    responses={200: Subscribed},
    errors=(400, 404, *SESSION_ERRORS),
)
async def subscribe(body: SubscribeBody, caller: Caller) -> Response:
    _require_push()
    if not (body.endpoint.strip() and body.p256dh.strip() and body.auth.strip()):
        raise InvalidSubscription("endpoint, p256dh and auth are all required")
    endpoint = check_endpoint(body.endpoint, allow_private=runtime().config.allow_private_targets)
    receiver = _key_bytes(body.p256dh, "p256dh")
    if len(receiver) != P256DH_BYTES or receiver[0] != 4:
        raise InvalidSubscription("p256dh must be an uncompressed P-256 public key")
    if len(_key_bytes(body.auth, "auth")) != AUTH_BYTES:
        raise InvalidSubscription("auth must be 16 bytes")
    async with db.connection(runtime().pool) as conn:
        await push_subscriptions.upsert(
            conn,
            endpoint=endpoint,
            team_id=caller.team_id,
            user_id=caller.user_id,
            p256dh=body.p256dh,
            auth=body.auth,
        )
    return respond(Subscribed(subscribed=True))


@operation(
    blueprint,
    "POST",
    "/push/unsubscribe",
    summary="Stop approval notifications in this browser.",
    body=UnsubscribeBody,
    responses={200: Subscribed},
    errors=(400, *SESSION_ERRORS),
)
async def unsubscribe(body: UnsubscribeBody, caller: Caller) -> Response:
    async with db.connection(runtime().pool) as conn:
        await push_subscriptions.delete_own(conn, endpoint=body.endpoint, user_id=caller.user_id)
    return respond(Subscribed(subscribed=False))
