"""A fake Telegram Bot API on loopback: answers like Telegram and records every call.

``POST /bot<token>/<method>`` with a JSON body. It keeps every call in
``calls`` and the chat's messages in ``messages`` (edits replace them), so a
test can read what a person in the chat would see. Updates queued with
``push_update`` are handed out by ``getUpdates`` (long-poll mode). As
Telegram does, a ``getUpdates`` that arrives while another is waiting is
refused with 409 (counted in ``overlapping_polls``). Set ``fail_with`` to an
HTTP status to make the API look down.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback import LoopbackServer, Reply, Request

TOKEN = "123456:test-bot-token-abcdefghijklmnop"
BOT_USERNAME = "tap_test_bot"


@dataclass
class Call:
    method: str
    payload: dict[str, Any]


@dataclass
class FakeTelegram:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    fail_with: int | None = None
    polls: int = 0
    """``getUpdates`` calls answered."""
    overlapping_polls: int = 0
    """``getUpdates`` calls that arrived while another was waiting (Telegram answers 409)."""
    _polling: int = 0
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _next_message_id: int = 100
    _server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> FakeTelegram:
        self._server = LoopbackServer(self._handle).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def env(self, **extra: str) -> dict[str, str]:
        """The settings that point a TAP at this fake."""
        return {"TELEGRAM_BOT_TOKEN": self.token, "TELEGRAM_API_URL": self.url, **extra}

    def of(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [c.payload for c in self.calls if c.method == method]

    def push_update(self, update: dict[str, Any]) -> None:
        with self._lock:
            self._updates.append(update)
            self._lock.notify_all()

    def _handle(self, request: Request) -> Reply:
        prefix = f"/bot{self.token}/"
        if request.method != "POST" or not request.path.startswith("/bot"):
            return Reply(404)
        if not request.path.startswith(prefix):
            return Reply.json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        method = request.path[len(prefix) :]
        payload: dict[str, Any] = json.loads(request.body) if request.body else {}
        if method != "getUpdates":
            with self._lock:
                self.calls.append(Call(method, payload))
        if self.fail_with is not None:
            return Reply.json(
                self.fail_with,
                {"ok": False, "error_code": self.fail_with, "description": "Bad Gateway"},
            )
        if method == "getUpdates":
            return self._poll(payload)
        return Reply.json(200, {"ok": True, "result": self._result(method, payload)})

    def _poll(self, payload: dict[str, Any]) -> Reply:
        with self._lock:
            if self._polling:
                self.overlapping_polls += 1
                return Reply.json(
                    409,
                    {
                        "ok": False,
                        "error_code": 409,
                        "description": "Conflict: terminated by other getUpdates request",
                    },
                )
            self._polling += 1
        try:
            return Reply.json(200, {"ok": True, "result": self._take_updates(payload)})
        finally:
            with self._lock:
                self._polling -= 1
                self.polls += 1

    def _result(self, method: str, payload: dict[str, Any]) -> Any:
        if method == "getMe":
            return {"id": 42, "is_bot": True, "first_name": "TAP", "username": BOT_USERNAME}
        if method == "sendMessage":
            with self._lock:
                self._next_message_id += 1
                message_id = self._next_message_id
                self.messages[(str(payload["chat_id"]), message_id)] = dict(payload)
            return {"message_id": message_id, "chat": {"id": payload["chat_id"]}}
        if method == "editMessageText":
            with self._lock:
                key = (str(payload["chat_id"]), int(payload["message_id"]))
                self.messages[key] = {**self.messages.get(key, {}), **payload}
            return True
        return True

    def _take_updates(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        # Hold the poll briefly (not Telegram's 30 s) so a stopping TAP is not kept waiting.
        deadline = time.monotonic() + 1.0
        offset = int(payload.get("offset") or 0)
        with self._lock:
            while True:
                ready = [u for u in self._updates if u["update_id"] >= offset]
                if ready or time.monotonic() >= deadline:
                    self._updates = ready
                    return ready
                self._lock.wait(deadline - time.monotonic())


_update_ids = iter(range(1, 10**9))


def callback(user_id: int, data: str, *, chat_id: str = "-1001") -> dict[str, Any]:
    """An update: a person pressed a button whose callback data is ``data``."""
    update_id = next(_update_ids)
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            "message": {"message_id": 1, "chat": {"id": chat_id, "type": "supergroup"}},
            "data": data,
        },
    }


def private_text(user_id: int, text: str, *, username: str = "someone") -> dict[str, Any]:
    """An update: a person wrote ``text`` to the bot in a private chat."""
    update_id = next(_update_ids)
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": user_id, "is_bot": False, "first_name": username, "username": username},
            "chat": {"id": user_id, "type": "private"},
            "text": text,
        },
    }
