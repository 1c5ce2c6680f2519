"""A fake Resend API on loopback that records every email it is asked to send.

``POST /emails`` with a bearer key answers 200 ``{"id": ...}`` and keeps the
JSON payload and the Authorization header in ``sent``. Set ``fail_with`` to
make it answer an error status instead.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeResend:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path != "/emails":
                    self.send_response(404)
                    self.end_headers()
                    return
                if fake.fail_with is not None:
                    self.send_response(fake.fail_with)
                    self.end_headers()
                    return
                fake.sent.append(SentEmail(self.headers.get("Authorization", ""), json.loads(body)))
                answer = json.dumps({"id": str(uuid.uuid4())}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

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
