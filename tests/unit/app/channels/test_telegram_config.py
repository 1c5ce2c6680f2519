"""Telegram settings: webhook mode needs its secret, and the Bot API URL is configurable."""

from __future__ import annotations

import pytest

from app.channels.telegram.channel import destination, webhook_url
from app.config import Config
from app.errors import ConfigError

BASE = {"TAP_ENCRYPTION_KEY": "5f" * 32, "TELEGRAM_BOT_TOKEN": "1:abc"}
SECRET = "s3cret-0123456789abcdef"


def test_a_webhook_url_without_a_secret_stops_start_up() -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env(
            {**BASE, "TELEGRAM_WEBHOOK_URL": "https://tap.example.com/telegram/webhook"}
        )
    assert raised.value.variable == "TELEGRAM_WEBHOOK_SECRET"


@pytest.mark.parametrize("secret", ["short", "has spaces in it 0123", "x" * 257, "é" * 20])
def test_a_secret_telegram_would_refuse_stops_start_up(secret: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**BASE, "TELEGRAM_WEBHOOK_SECRET": secret})
    assert secret not in str(raised.value)


def test_webhook_mode_follows_the_secret() -> None:
    polling = Config.from_env(BASE)
    assert webhook_url(polling) is None
    assert polling.telegram_api_url == "https://api.telegram.org"
    hooked = Config.from_env(
        {**BASE, "TELEGRAM_WEBHOOK_SECRET": SECRET, "TAP_PUBLIC_URL": "https://tap.example.com"}
    )
    assert webhook_url(hooked) == "https://tap.example.com/telegram/webhook"
    assert "s3cret" not in repr(hooked)


def test_the_bot_api_url_and_chat_fallback() -> None:
    config = Config.from_env(
        {**BASE, "TELEGRAM_API_URL": "http://127.0.0.1:9/", "TELEGRAM_CHAT_ID": "-100"}
    )
    assert config.telegram_api_url == "http://127.0.0.1:9"
    assert destination(config, {}) == {"chat_id": "-100"}
    assert destination(config, {"chat_id": "-7"}) == {"chat_id": "-7"}
    assert destination(Config.from_env(BASE), {}) is None
