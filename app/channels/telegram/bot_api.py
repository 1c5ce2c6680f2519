"""The few Bot API methods TAP calls, over plain aiohttp; the only module that talks to Telegram.

Errors become :class:`~app.channels.base.DeliveryFailed` here: a 4xx
answer (bad chat id, bot blocked) is permanent, anything else is retried.
NOTE: the token is part of every URL, so no URL is ever logged or put in an
error message.
"""

from __future__ import annotations

from typing import Any, Final

import aiohttp

from app.channels.base import DeliveryFailed
from app.secret import Secret

LONG_POLL_SECS: Final = 30
LONG_POLL_TIMEOUT: Final = aiohttp.ClientTimeout(total=LONG_POLL_SECS + 5)


class BotApi:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: Secret) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._token = token

    def __repr__(self) -> str:
        return "BotApi(token=[secure])"

    async def call(
        self, method: str, payload: dict[str, Any], *, timeout: aiohttp.ClientTimeout | None = None
    ) -> Any:
        """``result`` of the call. Raises DeliveryFailed."""
        url = f"{self._base}/bot{self._token.reveal()}/{method}"
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            async with self._http.post(url, json=payload, **extra) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (TimeoutError, aiohttp.ClientError):
            raise DeliveryFailed(f"Telegram {method}: no answer") from None
        if not isinstance(body, dict) or body.get("ok") is not True:
            description = body.get("description") if isinstance(body, dict) else None
            text = str(description)[:200] if description else f"HTTP {status}"
            raise DeliveryFailed(
                f"Telegram {method}: {text}", permanent=400 <= status < 500 and status != 429
            )
        return body.get("result")
