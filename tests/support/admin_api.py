"""Drive the admin API in-process (Quart's test client) with a fake Resend behind it."""

from __future__ import annotations

import contextlib
import json as jsonlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from quart.typing import TestClientProtocol

from app.config import Config
from app.store import approvals
from app.web import create_app
from tests.support.fake_resend import FakeResend
from tests.support.proxy import TEST_KEY

PASSWORD = "correct horse battery staple"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Member:
    email: str
    token: str
    user_id: str
    team_id: str


def _reply(status: int, text: str, headers: Any) -> Reply:
    body: Any
    try:
        body = jsonlib.loads(text)
    except ValueError:
        body = text
    return Reply(status, body, {k.lower(): v for k, v in headers.items()})


def _headers(token: str | None, headers: dict[str, str] | None) -> dict[str, str]:
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return h


class Flows:
    """Sign-up, login and invite flows over any transport that implements ``call``."""

    resend: FakeResend

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        address: str | None = None,
    ) -> Reply:
        raise NotImplementedError

    async def signup(self, team: str, email: str, password: str = PASSWORD) -> Member:
        """Sign up, verify with the emailed code, and log in."""
        reply = await self.call(
            "POST", "/signup", json={"team_name": team, "email": email, "password": password}
        )
        assert reply.status == 201, reply.body
        code = self.resend.code_for(email)
        verified = await self.call("POST", "/verify-email", json={"email": email, "code": code})
        assert verified.status == 200, verified.body
        return await self.login(email, password)

    async def login(self, email: str, password: str = PASSWORD) -> Member:
        reply = await self.call("POST", "/login", json={"email": email, "password": password})
        assert reply.status == 200, reply.body
        return Member(
            email, reply.body["session_token"], reply.body["user_id"], reply.body["team_id"]
        )

    async def invite(self, inviter: Member, email: str, role: str = "approver") -> Member:
        """Invite ``email`` and accept the invite from the emailed link."""
        reply = await self.call(
            "POST", "/team/members/invite", inviter.token, json={"email": email, "role": role}
        )
        assert reply.status == 201, reply.body
        token = self.resend.link_token(email)
        accepted = await self.call(
            "POST", "/team/members/accept", json={"token": token, "password": PASSWORD}
        )
        assert accepted.status == 200, accepted.body
        body = accepted.body
        return Member(email, body["session_token"], body["user_id"], body["team_id"])


@dataclass
class Api(Flows):
    """The app in-process; ``address`` is the socket peer."""

    client: TestClientProtocol
    resend: FakeResend
    config: Config

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        address: str | None = None,
    ) -> Reply:
        kwargs: dict[str, Any] = {"headers": _headers(token, headers)}
        if json is not None:
            kwargs["json"] = json
        if address is not None:
            kwargs["scope_base"] = {"client": (address, 40000)}
        response = await self.client.open(path, method=method, **kwargs)
        return _reply(response.status_code, await response.get_data(as_text=True), response.headers)


@dataclass
class RemoteApi(Flows):
    """A real tap-proxy over HTTP; ``address`` is sent as ``X-Forwarded-For`` (as nginx would)."""

    url: str
    resend: FakeResend

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        address: str | None = None,
    ) -> Reply:
        h = _headers(token, headers)
        if address is not None:
            h["X-Forwarded-For"] = address
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.request(method, path, json=json, headers=h)
        return _reply(response.status_code, response.text, response.headers)


def resend_env(resend: FakeResend) -> dict[str, str]:
    """The settings that send a TAP's email to ``resend``."""
    return {
        "RESEND_API_KEY": "re_test_key",
        "TAP_RESEND_API_URL": resend.url,
        "RESEND_FROM_EMAIL": "TAP <tap@example.test>",
    }


def admin_config(tmp: Path, resend: FakeResend | None, **env: str) -> Config:
    values = {
        "TAP_ENCRYPTION_KEY": TEST_KEY,
        "TAP_LISTEN_ADDR": "127.0.0.1:3100",
        "TAP_DATA_DIR": str(tmp / "data"),
        "TAP_AUDIT_LOG": str(tmp / "audit.jsonl"),
        "TAP_LOG_LEVEL": "warning",
    }
    if resend is not None:
        values.update(resend_env(resend))
    values.update(env)
    return Config.from_env(values)


def _create_app(config: Config, database_url: str) -> Any:
    return create_app(config, database_url)


@contextlib.asynccontextmanager
async def running_api(
    tmp: Path, database_url: str, *, local_mode: bool = False, **env: str
) -> AsyncIterator[Api]:
    resend = FakeResend().start()
    config = admin_config(tmp, None if local_mode else resend, **env)
    app = _create_app(config, database_url)
    try:
        async with app.test_app() as test_app:
            yield Api(test_app.test_client(), resend, config)
    finally:
        resend.stop()


async def park_request(
    database_url: str,
    team_id: str,
    credential: str,
    *,
    min_approvals: int = 1,
    allowed: tuple[str, ...] = (),
    require_passkey: bool = False,
    agent_id: str = "bot",
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),),
    body: bytes = b'{"a":1}',
) -> str:
    """Park a pending approval row through the store, as the /forward pipeline does."""
    txn = uuid.uuid4()
    conn = await asyncpg.connect(database_url)
    try:
        await approvals.create(
            conn,
            approvals.NewRequest(
                txn_id=txn,
                team_id=team_id,
                agent_id=agent_id,
                mode="unified",
                credential_names=(credential,),
                injected_headers=("Authorization",),
                method="POST",
                target_url="https://api.example.com/v1/x",
                headers=list(headers),
                body=body,
                policy_reason="",
                require_passkey=require_passkey,
                min_approvals=min_approvals,
                allowed_approvers=allowed,
                auth_mode="auto",
                timeout_secs=3600,
            ),
            approvals.PendingCaps(per_agent=10**6, per_team=10**6, bytes_per_team=2**40),
        )
    finally:
        await conn.close()
    return str(txn)


class ServedApp:
    """A Quart app served by Hypercorn on a loopback port, in a thread with its own event loop."""

    def __init__(self, quart_app: Any) -> None:
        import asyncio
        import threading

        from hypercorn.asyncio import serve
        from hypercorn.config import Config as HypercornConfig

        from tests.support.proxy import free_port

        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        config = HypercornConfig()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.accesslog = None

        async def run() -> None:
            await serve(quart_app, config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]

        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(run(),), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


def serve_admin(tmp: Path, database_url: str, resend: FakeResend) -> ServedApp:
    """The full TAP app (create_app) served on loopback, with email going to ``resend``."""
    import time

    import httpx

    served = ServedApp(_create_app(admin_config(tmp, resend), database_url))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(served.url + "/health", timeout=1).status_code == 200:
                return served
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    served.stop()
    raise RuntimeError("the app did not start")
