"""``POST /telegram/webhook``: updates Telegram pushes to TAP in webhook mode.

NOTE: the ``X-Telegram-Bot-Api-Secret-Token`` header must equal
``TELEGRAM_WEBHOOK_SECRET``, compared in constant time; otherwise (and always
when no secret is configured, i.e. in long-poll mode) the answer is 401 and
nothing is read. A malformed update is a 400; a handled one a 200.
"""

from __future__ import annotations

import hmac
import json

from quart import Blueprint, Response, jsonify, request

from app.channels.current import hub
from app.channels.telegram.channel import KIND, WEBHOOK_PATH, TelegramChannel
from app.errors import InvalidJson, WebhookUnauthorized
from app.webstate import runtime

blueprint = Blueprint("telegram_webhook", __name__)

MAX_UPDATE_BYTES = 1024 * 1024


@blueprint.post(WEBHOOK_PATH)
async def telegram_webhook() -> Response:
    secret = runtime().config.telegram_webhook_secret
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    channel = hub().get(KIND)
    if (
        secret is None
        or not isinstance(channel, TelegramChannel)
        or not hmac.compare_digest(given.encode(), secret.reveal().encode())
    ):
        raise WebhookUnauthorized("missing or wrong webhook secret")
    raw = await request.get_data(cache=False, as_text=False)
    if len(raw) > MAX_UPDATE_BYTES:
        raise InvalidJson("the update is too large")
    try:
        update = json.loads(raw)
    except ValueError:
        raise InvalidJson("the update is not JSON") from None
    if not isinstance(update, dict):
        raise InvalidJson("the update is not a JSON object")
    await channel.handle_update(update)
    return jsonify({"ok": True})
