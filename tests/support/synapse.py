"""A real Matrix homeserver (Synapse) on loopback, and a tiny client to act as a person.

Synapse has many dependencies that could clash with TAP's, so it lives in its
own virtualenv, ``.synapse-venv``. ``make test`` creates it first
(``python -m tests.support.synapse --install``); the fixture creates it too when
it is missing, so a bare ``pytest`` on a clean checkout still works.

``Synapse.start(tmp)`` writes a config (SQLite in ``tmp``, rate limits off,
no federation, registration only through the shared-secret admin API), starts
``python -m synapse.app.homeserver`` and waits until the client API answers.
``register(name)`` creates a user and returns a :class:`MatrixUser`, a small
synchronous client that can create and join rooms, send text and replies,
react, and read a room's messages.

The Makefile installs Synapse with ``python -m tests.support.synapse --install``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".synapse-venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed"
# Pinned so a new Synapse release cannot change what the tests see; the stamp
# records it, so changing the pin reinstalls.
REQUIREMENT = "matrix-synapse==1.163.2"
SERVER_NAME = "localhost"
READY_TIMEOUT_SECS = 120
# Plenty for any test; effectively "no rate limit".
_UNLIMITED = {"per_second": 10000, "burst_count": 100000}


def install() -> Path:
    """Create ``.synapse-venv`` with Synapse in it, once; return its python."""
    if STAMP.exists() and STAMP.read_text().strip() == REQUIREMENT:
        return PYTHON
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, REQUIREMENT], check=True)
    STAMP.write_text(REQUIREMENT + "\n")
    return PYTHON


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(data: Path, port: int, shared_secret: str) -> dict[str, Any]:
    return {
        "server_name": SERVER_NAME,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "pid_file": str(data / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(data / "homeserver.db")}},
        "log_config": str(data / "log.yaml"),
        "media_store_path": str(data / "media"),
        "signing_key_path": str(data / "signing.key"),
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": uuid.uuid4().hex,
        "form_secret": uuid.uuid4().hex,
        "report_stats": False,
        "enable_registration": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        "enable_metrics": False,
        # Tests send bursts from a handful of users; never make them wait.
        "rc_message": _UNLIMITED,
        "rc_registration": _UNLIMITED,
        "rc_login": {
            "address": _UNLIMITED,
            "account": _UNLIMITED,
            "failed_attempts": _UNLIMITED,
        },
        "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
        "rc_joins_per_room": _UNLIMITED,
        "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
        "rc_admin_redaction": _UNLIMITED,
        "rc_3pid_validation": _UNLIMITED,
        "rc_delayed_event_mgmt": _UNLIMITED,
    }


_LOG_CONFIG = """\
version: 1
formatters:
  plain:
    format: '%(asctime)s %(name)s %(levelname)s %(message)s'
handlers:
  file:
    class: logging.FileHandler
    filename: {path}
    formatter: plain
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""


@dataclass
class Synapse:
    """A running homeserver; ``url`` is its client API base (no trailing slash)."""

    url: str
    data: Path
    shared_secret: str
    process: subprocess.Popen[bytes]
    _users: int = 0

    @classmethod
    def start(cls, data: Path) -> Synapse:
        """Raises RuntimeError (with the server log) if it does not come up in time."""
        python = install()
        data.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        shared_secret = uuid.uuid4().hex
        config_path = data / "homeserver.yaml"
        # JSON is YAML: no YAML writer is needed.
        config_path.write_text(json.dumps(_config(data, port, shared_secret), indent=1))
        (data / "log.yaml").write_text(_LOG_CONFIG.format(path=data / "homeserver.log"))
        command = [str(python), "-m", "synapse.app.homeserver", "--config-path", str(config_path)]
        subprocess.run(
            [*command, "--generate-keys"], check=True, cwd=data, capture_output=True, timeout=120
        )
        output = (data / "stdout.log").open("wb")
        process = subprocess.Popen(command, cwd=data, stdout=output, stderr=subprocess.STDOUT)
        server = cls(f"http://127.0.0.1:{port}", data, shared_secret, process)
        server._wait_ready()
        return server

    def log(self) -> str:
        parts = []
        for name in ("stdout.log", "homeserver.log"):
            path = self.data / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"synapse exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/_matrix/client/versions", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"synapse did not come up in {READY_TIMEOUT_SECS}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def register(self, name: str | None = None, *, admin: bool = False) -> MatrixUser:
        """A new user through the shared-secret admin API (a unique name unless given)."""
        self._users += 1
        username = name or f"user{self._users}-{uuid.uuid4().hex[:6]}"
        password = uuid.uuid4().hex
        endpoint = self.url + "/_synapse/admin/v1/register"
        nonce = httpx.get(endpoint, timeout=10).json()["nonce"]
        message = b"\x00".join(
            [
                nonce.encode(),
                username.encode(),
                password.encode(),
                b"admin" if admin else b"notadmin",
            ]
        )
        mac = hmac.new(self.shared_secret.encode(), message, hashlib.sha1).hexdigest()
        response = httpx.post(
            endpoint,
            json={
                "nonce": nonce,
                "username": username,
                "password": password,
                "admin": admin,
                "mac": mac,
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return MatrixUser(self.url, body["user_id"], body["access_token"])


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


@dataclass
class MatrixUser:
    """A person on the homeserver, driven through the client-server API."""

    url: str
    user_id: str
    access_token: str = field(repr=False)

    def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        response = httpx.request(
            method,
            self.url + "/_matrix/client/v3" + path,
            headers={"Authorization": f"Bearer {self.access_token}"},
            json=body,
            params=params or None,
            timeout=30,
        )
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        return response.json()

    def create_room(self, *, invite: tuple[str, ...] = (), direct: bool = False) -> str:
        """A new private room (unencrypted: TAP's bot does not do E2EE); returns its id."""
        body: dict[str, Any] = {"preset": "private_chat", "invite": list(invite)}
        if direct:
            body["is_direct"] = True
        room_id: str = self.call("POST", "/createRoom", body)["room_id"]
        return room_id

    def invite(self, room_id: str, user_id: str) -> None:
        self.call("POST", f"/rooms/{_quote(room_id)}/invite", {"user_id": user_id})

    def join(self, room_id: str) -> None:
        self.call("POST", f"/join/{_quote(room_id)}", {})

    def joined_members(self, room_id: str) -> set[str]:
        return set(self.call("GET", f"/rooms/{_quote(room_id)}/joined_members")["joined"])

    def send(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        path = f"/rooms/{_quote(room_id)}/send/{_quote(event_type)}/{uuid.uuid4().hex}"
        event_id: str = self.call("PUT", path, content)["event_id"]
        return event_id

    def send_text(self, room_id: str, body: str) -> str:
        return self.send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})

    def reply(self, room_id: str, event_id: str, body: str, *, quoted: str = "") -> str:
        """A rich reply, with the quote fallback clients put in front of the answer."""
        fallback = "".join(f"> {line}\n" for line in quoted.splitlines()) + "\n" if quoted else ""
        return self.send(
            room_id,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": fallback + body,
                "m.relates_to": {"m.in_reply_to": {"event_id": event_id}},
            },
        )

    def react(self, room_id: str, event_id: str, key: str) -> str:
        return self.send(
            room_id,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
        )

    def messages(self, room_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The room's timeline events, oldest first."""
        chunk: list[dict[str, Any]] = self.call(
            "GET", f"/rooms/{_quote(room_id)}/messages", dir="b", limit=str(limit)
        )["chunk"]
        return list(reversed(chunk))

    def texts_from(self, room_id: str, sender: str) -> list[dict[str, Any]]:
        """``m.room.message`` events ``sender`` put in the room, oldest first."""
        return [
            e
            for e in self.messages(room_id)
            if e["type"] == "m.room.message" and e["sender"] == sender
        ]

    def wait_for_message(
        self,
        room_id: str,
        sender: str,
        match: Callable[[dict[str, Any]], bool] = lambda _e: True,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """The first message from ``sender`` for which ``match`` holds, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.texts_from(room_id, sender) if match(e)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                seen = [e["content"].get("body") for e in self.texts_from(room_id, sender)]
                raise AssertionError(f"no matching message from {sender} in {timeout}s: {seen}")
            time.sleep(0.1)


if __name__ == "__main__":
    if sys.argv[1:] != ["--install"]:
        raise SystemExit("usage: python -m tests.support.synapse --install")
    print(install())
