"""A fake Resend API on loopback that records every email it is asked to send.

``POST /emails`` with a bearer key answers 200 ``{"id": ...}`` and keeps the
JSON payload and the Authorization header in ``sent``. Set ``fail_with`` to
make it answer an error status instead.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback import LoopbackServer, Reply, Request


@dataclass
class SentEmail:
    authorization: str
    payload: dict[str, Any]

    @property
    def to(self) -> list[str]:
        return list(self.payload.get("to", []))

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))


@dataclass
class FakeResend:
    sent: list[SentEmail] = field(default_factory=list)
    fail_with: int | None = None
    _server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> FakeResend:
        self._server = LoopbackServer(self._handle).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def _handle(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != "/emails":
            return Reply(404)
        if self.fail_with is not None:
            return Reply(self.fail_with)
        self.sent.append(SentEmail(request.headers.get("authorization", ""), request.json()))
        return Reply.json(200, {"id": str(uuid.uuid4())})

    def last_to(self, email: str) -> SentEmail:
        for message in reversed(self.sent):
            if email in message.to:
                return message
        raise AssertionError(f"no email was sent to {email}")

    def code_for(self, email: str) -> str:
        """The 6-digit code in the latest email to ``email``."""
        match = re.search(r"\b(\d{6})\b", self.last_to(email).text)
        assert match, self.last_to(email).text
        return match.group(1)

    def link_token(self, email: str, parameter: str = "invite_token") -> str:
        match = re.search(parameter + r"=([0-9a-f]{64})", self.last_to(email).text)
        assert match, self.last_to(email).text
        return match.group(1)
