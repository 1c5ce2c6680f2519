"""A real tap-proxy with a signed-up team, an agent whose writes wait, and a fake Telegram."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_resend import FakeResend
from tests.support.fake_telegram import FakeTelegram, callback
from tests.support.http_client import Client
from tests.support.proxy import ProxyProcess, base_env, start_proxy
from tests.support.upstream import Upstream
from tests.support.waiting import wait_for

PASSWORD = "correct horse battery staple"
SECRET = "sk_live_channels_0123456789"
WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"
CHAT = "-1001"
OWNER = "owner@example.com"


@dataclass
class Person:
    email: str
    token: str
    user_id: str


@dataclass
class Team:
    """The team of one test: its owner, agent key, and the TAP(s) serving it."""

    proxy: ProxyProcess
    resend: FakeResend
    upstream: Upstream
    owner: Person
    agent_key: str
    team_id: str
    telegram: FakeTelegram | None = None
    base_policy: dict[str, Any] = field(default_factory=dict)
    """What every policy of this test keeps (the channel it routes to)."""
    people: dict[str, Person] = field(default_factory=dict)

    @property
    def api(self) -> Client:
        return Client(self.proxy.url)

    def forward(
        self, *, content: bytes = b'{"amount": 5}', url: str | None = None
    ) -> httpx.Response:
        return httpx.post(
            (url or self.proxy.url) + "/forward",
            timeout=30,
            content=content,
            headers={
                "X-TAP-Key": self.agent_key,
                "X-TAP-Credential": "demo",
                "X-TAP-Target": self.upstream.url + "/pay",
                "X-TAP-Method": "POST",
                "Content-Type": "application/json",
            },
        )

    def park(self, **kwargs: Any) -> str:
        response = self.forward(**kwargs)
        assert response.status_code == 202, response.text
        txn: str = response.json()["txn_id"]
        return txn

    def policy(self, **fields: Any) -> None:
        body = {
            "auto_approve_methods": ["GET"],
            "require_approval_methods": ["POST"],
            **self.base_policy,
            **fields,
        }
        self.api.ok("PUT", "/team/policies/demo", self.owner.token, json=body)

    def invite(self, email: str, *, role: str = "approver", assign: bool = True) -> Person:
        self.api.ok(
            "POST",
            "/team/members/invite",
            self.owner.token,
            status=201,
            json={"email": email, "role": role},
        )
        token = re.search(r"invite_token=([0-9a-f]{64})", self.resend.last_to(email).text)
        assert token
        accepted = self.api.ok(
            "POST", "/team/members/accept", json={"token": token.group(1), "password": PASSWORD}
        )
        person = Person(email, accepted["session_token"], accepted["user_id"])
        if assign:
            self.api.ok(
                "POST",
                f"/team/members/{person.user_id}/credentials",
                self.owner.token,
                json={"credential_name": "demo"},
            )
        self.people[email] = person
        return person

    def status(self, txn: str) -> str:
        body = self.api.call(
            "GET", f"/agent/approvals/{txn}", headers={"X-TAP-Key": self.agent_key}
        ).json()
        status: str = body["status"]
        return status

    def wait_status(self, txn: str, wanted: set[str]) -> str:
        return wait_for(lambda: self.status(txn), lambda s: s in wanted, timeout=20)


def sign_up(proxy: ProxyProcess, resend: FakeResend, email: str = OWNER) -> tuple[Person, str]:
    api = Client(proxy.url)
    api.ok(
        "POST",
        "/signup",
        status=201,
        json={"team_name": "acme", "email": email, "password": PASSWORD},
    )
    api.ok("POST", "/verify-email", json={"email": email, "code": resend.code_for(email)})
    login = api.ok("POST", "/login", json={"email": email, "password": PASSWORD})
    return Person(email, login["session_token"], login["user_id"]), login["team_id"]


def build_team(
    proxy: ProxyProcess, resend: FakeResend, upstream: Upstream, **base_policy: Any
) -> Team:
    owner, team_id = sign_up(proxy, resend)
    api = Client(proxy.url)
    api.ok(
        "POST",
        "/team/credentials",
        owner.token,
        status=201,
        json={
            "name": "demo",
            "description": "demo api",
            "allowed_hosts": ["127.0.0.1"],
            "value": SECRET,
            "auth_header_format": "Bearer {value}",
        },
    )
    api.ok(
        "POST", "/team/roles", owner.token, status=201, json={"name": "w", "credentials": ["demo"]}
    )
    key = api.ok(
        "POST", "/team/agents", owner.token, status=201, json={"id": "bot", "roles": ["w"]}
    )["api_key"]
    team = Team(proxy, resend, upstream, owner, key, team_id, base_policy=base_policy)
    team.policy()
    return team


def proxy_env(tmp: Path, database_url: str, resend: FakeResend, **extra: str) -> dict[str, str]:
    return base_env(
        tmp,
        database_url,
        RESEND_API_KEY="re_channels",
        TAP_RESEND_API_URL=resend.url,
        TAP_APPROVAL_TIMEOUT_SECS="300",
        **extra,
    )


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


def telegram_env(telegram: FakeTelegram, **extra: str) -> dict[str, str]:
    """Webhook mode, messages to the global chat unless a row or policy names another."""
    return telegram.env(TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET, TELEGRAM_CHAT_ID=CHAT, **extra)


@pytest.fixture
def tg_team(
    tmp_path: Path,
    database_url: str,
    resend: FakeResend,
    upstream: Upstream,
    telegram: FakeTelegram,
) -> Iterator[Team]:
    """A team whose requests go to Telegram (the global chat), TAP in webhook mode."""
    proxy = start_proxy(
        tmp_path, proxy_env(tmp_path, database_url, resend, **telegram_env(telegram))
    )
    try:
        team = build_team(proxy, resend, upstream, approval_channel="telegram")
        team.telegram = telegram
        yield team
    finally:
        assert proxy.stop() == 0, proxy.log()


def webhook(
    team: Team, update: dict[str, Any], *, secret: str | None = WEBHOOK_SECRET
) -> httpx.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return httpx.post(
        team.proxy.url + "/telegram/webhook", json=update, headers=headers, timeout=30
    )


def link_telegram(team: Team, person: Person, user_id: int) -> None:
    """``person`` links Telegram account ``user_id`` the way a person does: deep link, /start."""
    from tests.support.fake_telegram import private_text

    issued = team.api.ok("POST", "/user/identities/telegram", person.token)
    assert issued["deep_link"] == f"https://t.me/tap_test_bot?start={issued['code']}"
    assert webhook(team, private_text(user_id, f"/start {issued['code']}")).status_code == 200


def press(team: Team, user_id: int, data: str) -> str:
    """A person presses a button; what Telegram showed them (the callback answer)."""
    update = callback(user_id, data)
    assert webhook(team, update).status_code == 200
    assert team.telegram is not None
    answers = team.telegram.of("answerCallbackQuery")
    found = [a for a in answers if a["callback_query_id"] == update["callback_query"]["id"]]
    assert len(found) == 1, answers
    text: str = found[0]["text"]
    return text
