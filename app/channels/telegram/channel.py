"""The Telegram channel: deliver, update after a decision, and take decisions and link codes.

Start-up asks ``getMe`` for the bot's username (for link deep links). With
``TELEGRAM_WEBHOOK_SECRET`` set, TAP registers its webhook with that secret
(``setWebhook``; updates then arrive at ``POST /telegram/webhook``);
otherwise one worker of all replicas long-polls ``getUpdates``
(:mod:`app.channels.leading`: Telegram allows one poll at a time, and two
pollers would both act on each update). Every update goes through
:meth:`TelegramChannel.handle_update`:

- ``/start <code>`` in a private chat links the sender's Telegram account;
- a callback ``approve:<txn>`` / ``deny:<txn>`` is a vote by the member
  linked to the sender (:func:`app.channels.deciding.decide`); the sender
  always gets an answer, "not authorized" when the vote was refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import logging
import uuid
from typing import Any, ClassVar, Final

from app.channels import deciding, leading
from app.channels.base import (
    ChannelDeps,
    DeliveryFailed,
    LinkInstructions,
    MessageRef,
    Notice,
    Outcome,
)
from app.channels.telegram import messages
from app.channels.telegram.bot_api import LONG_POLL_SECS, LONG_POLL_TIMEOUT, BotApi
from app.config import Config
from app.store import db, leads

logger = logging.getLogger(__name__)

KIND: Final = "telegram"
ALLOWED_UPDATES: Final = ["callback_query", "message"]
POLL_RETRY_SECS: Final = 2.0
WEBHOOK_PATH: Final = "/telegram/webhook"
POLL_LEAD: Final = "tap/telegram-poll/"


def wired(config: Config) -> bool:
    return config.telegram_bot_token is not None


def destination(config: Config, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """The row's or policy's chat id, else ``TELEGRAM_CHAT_ID``; None when neither is set."""
    chat_id = str(wanted.get("chat_id") or config.telegram_chat_id or "").strip()
    return {"chat_id": chat_id} if chat_id else None


def webhook_url(config: Config) -> str | None:
    """Where Telegram should post updates, or None for long-polling (no secret configured)."""
    if config.telegram_webhook_secret is None:
        return None
    return config.telegram_webhook_url or f"{config.base_url.rstrip('/')}{WEBHOOK_PATH}"


class TelegramChannel:
    kind: ClassVar[str] = KIND

    def __init__(self, deps: ChannelDeps) -> None:
        token = deps.config.telegram_bot_token
        assert token is not None
        self._config = deps.config
        self._pool = deps.pool
        self.api = BotApi(deps.http, deps.config.telegram_api_url, token)
        self._username: str | None = None
        self._poller: asyncio.Task[None] | None = None

    # Lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        # NOTE: a Telegram outage must not stop TAP from serving: failures here are
        # logged and retried by the poller (or the next link request).
        with contextlib.suppress(DeliveryFailed):
            await self._load_username()
        url = webhook_url(self._config)
        if url is not None:
            secret = self._config.telegram_webhook_secret
            assert secret is not None
            try:
                await self.api.call(
                    "setWebhook",
                    {
                        "url": url,
                        "allowed_updates": ALLOWED_UPDATES,
                        "secret_token": secret.reveal(),
                    },
                )
                logger.info("telegram webhook registered")
                return
            except DeliveryFailed as exc:
                logger.warning("telegram setWebhook failed (%s); long-polling instead", exc)
        self._poller = asyncio.create_task(
            leading.lead_forever(self._pool, self._lock_name, self._poll, "telegram long-poll"),
            name="tap-telegram-poll",
        )

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def _load_username(self) -> str:
        if self._username is None:
            me = await self.api.call("getMe", {})
            name = me.get("username") if isinstance(me, dict) else None
            if not isinstance(name, str) or not name:
                raise DeliveryFailed("Telegram getMe: no username")
            self._username = name
        return self._username

    async def _lock_name(self) -> str:
        # Per bot: the token names the bot, and only a digest of it goes to Postgres.
        token = self._config.telegram_bot_token
        assert token is not None
        return POLL_LEAD + hashlib.sha256(token.reveal().encode()).hexdigest()

    async def _poll(self, lead: db.Conn) -> None:
        with contextlib.suppress(DeliveryFailed):
            await self.api.call("deleteWebhook", {})
        offset = 0
        while True:
            # Stop polling as soon as the lead is lost, before another worker starts.
            await leads.confirm(lead)
            try:
                updates = await self.api.call(
                    "getUpdates",
                    {
                        "offset": offset,
                        "timeout": LONG_POLL_SECS,
                        "allowed_updates": ALLOWED_UPDATES,
                    },
                    timeout=LONG_POLL_TIMEOUT,
                )
            except DeliveryFailed as exc:
                logger.warning("telegram getUpdates failed: %s", exc)
                await asyncio.sleep(POLL_RETRY_SECS)
                continue
            for update in updates if isinstance(updates, list) else []:
                if isinstance(update, dict) and isinstance(update.get("update_id"), int):
                    offset = max(offset, update["update_id"] + 1)
                    try:
                        await self.handle_update(update)
                    except Exception:
                        logger.exception("telegram update %s failed", update.get("update_id"))

    # Delivery ------------------------------------------------------------------------

    async def deliver(self, notice: Notice) -> MessageRef | None:
        chat_id = notice.channel_config.get("chat_id")
        if not chat_id:
            raise DeliveryFailed("no Telegram chat id", permanent=True)
        payload: dict[str, Any] = {
            "chat_id": chat_id,
            "text": messages.approval_text(notice),
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
        if not notice.test:
            payload["reply_markup"] = messages.keyboard(notice)
        sent = await self.api.call("sendMessage", payload)
        if notice.test:
            return None
        message_id = sent.get("message_id") if isinstance(sent, dict) else None
        if not isinstance(message_id, int):
            raise DeliveryFailed("Telegram sendMessage: no message id")
        return {"chat_id": chat_id, "message_id": message_id, "summary": messages.summary(notice)}

    async def resolve(self, ref: MessageRef, outcome: Outcome) -> None:
        text = f"{ref.get('summary', '')}\n\n<b>{messages.outcome_text(outcome)}</b>".strip()
        try:
            await self.api.call(
                "editMessageText",
                {
                    "chat_id": ref["chat_id"],
                    "message_id": ref["message_id"],
                    "text": text,
                    "parse_mode": "HTML",
                    "disable_web_page_preview": True,
                    "reply_markup": {"inline_keyboard": []},
                },
            )
        except DeliveryFailed as exc:
            # Telegram refuses an edit that changes nothing: the update already happened.
            if "not modified" not in str(exc):
                raise

    async def link_instructions(self, code: str) -> LinkInstructions:
        username = await self._load_username()
        return LinkInstructions(
            instructions=f"Open the link, or send /start {code} to @{username}, within 10 minutes.",
            deep_link=f"https://t.me/{username}?start={code}",
            bot=f"@{username}",
        )

    # Inbound -------------------------------------------------------------------------

    async def handle_update(self, update: dict[str, Any]) -> None:
        """Act on one update from Telegram (webhook or long-poll). Ignores what it does not know."""
        callback = update.get("callback_query")
        if isinstance(callback, dict):
            await self._on_callback(callback)
            return
        message = update.get("message")
        if isinstance(message, dict):
            await self._on_message(message)

    async def _on_message(self, message: dict[str, Any]) -> None:
        text = message.get("text")
        sender = message.get("from")
        chat = message.get("chat")
        if not isinstance(text, str) or not isinstance(sender, dict) or not isinstance(chat, dict):
            return
        if chat.get("type") != "private" or not text.startswith("/start"):
            return
        parts = text.split()
        if len(parts) != 2 or not isinstance(sender.get("id"), int):
            return
        display = sender.get("username") or sender.get("first_name")
        linked = await deciding.link(
            self._pool,
            kind=KIND,
            code=parts[1],
            external_id=str(sender["id"]),
            display=f"@{display}" if sender.get("username") else display,
        )
        reply = (
            "Linked: you can now decide TAP approval requests here."
            if linked
            else "This link code is unknown, already used or expired. Ask TAP for a new one."
        )
        await self.api.call("sendMessage", {"chat_id": chat["id"], "text": reply})

    async def _on_callback(self, callback: dict[str, Any]) -> None:
        callback_id = callback.get("id")
        sender = callback.get("from")
        data = callback.get("data")
        if not isinstance(callback_id, str) or not isinstance(sender, dict):
            return
        action, _, raw_txn = data.partition(":") if isinstance(data, str) else ("", "", "")
        try:
            txn_id = uuid.UUID(raw_txn)
        except ValueError:
            txn_id = None
        if (
            action not in ("approve", "deny")
            or txn_id is None
            or not isinstance(sender.get("id"), int)
        ):
            await self._answer(callback_id, "Unknown action.", alert=True)
            return
        verdict = await deciding.decide(
            self._pool,
            kind=KIND,
            external_id=str(sender["id"]),
            txn_id=txn_id,
            decision="approve" if action == "approve" else "deny",
        )
        await self._answer(callback_id, verdict.text, alert=verdict.code != "recorded")

    async def _answer(self, callback_id: str, text: str, *, alert: bool) -> None:
        try:
            await self.api.call(
                "answerCallbackQuery",
                {
                    "callback_query_id": callback_id,
                    "text": html.unescape(text),
                    "show_alert": alert,
                },
            )
        except DeliveryFailed as exc:
            logger.warning("telegram answerCallbackQuery failed: %s", exc)
