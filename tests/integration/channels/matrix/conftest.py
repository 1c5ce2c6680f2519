"""A real Synapse, and a real tap-proxy whose Matrix bot lives on it.

``synapse`` is one homeserver per test session; every test registers its own
people and rooms. ``matrix_tap`` starts tap-proxy with ``MATRIX_*`` pointing
at a fresh bot account, signs up an owner, adds a credential and an agent,
and gives the owner a Matrix account and an approval room the bot has
joined (the team's default channel).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.passkeys.conftest import Client as PasskeyClient
from tests.support.admin_api import Member, RemoteApi, resend_env
from tests.support.fake_resend import FakeResend
from tests.support.proxy import ProxyProcess, base_env, start_proxy
from tests.support.synapse import MatrixUser, Synapse
from tests.support.upstream import Upstream
from tests.support.waiting import wait_for

CREDENTIAL = "payments"
SECRET = "sk_live_matrix_0123456789"
OWNER = "owner@example.com"
ORIGIN = "https://tap.example.test"


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    """Synapse on loopback with SQLite; tests register their own users and rooms."""
    server = Synapse.start(tmp_path_factory.mktemp("synapse"))
    yield server
    server.stop()


def bot_in(room_id: str, bot: MatrixUser, member: MatrixUser) -> None:
    """Wait until the bot has accepted its invite to ``room_id``."""
    wait_for(lambda: member.joined_members(room_id), lambda joined: bot.user_id in joined, 30)


@dataclass
class MatrixTap:
    synapse: Synapse
    proxy: ProxyProcess
    api: RemoteApi
    upstream: Upstream
    bot: MatrixUser
    owner: Member
    alice: MatrixUser
    """The owner's Matrix account (not linked until a test links it)."""
    room: str
    """The team's approval room: alice created it and invited the bot."""
    agent_key: str

    async def link(self, member: Member, account: MatrixUser) -> None:
        """Link ``account`` to ``member`` the way a person does: the code, in a DM to the bot."""
        issued = await self.api.call("POST", "/user/identities/matrix", member.token)
        assert issued.status == 200, issued.body
        assert issued.body["bot"] == self.bot.user_id
        dm = account.create_room(invite=(self.bot.user_id,), direct=True)
        bot_in(dm, self.bot, account)
        sent = account.send_text(dm, issued.body["code"])
        answer = self.answer_to(account, dm, sent)
        assert answer.startswith("Linked"), answer

    def answer_to(self, account: MatrixUser, room: str, event_id: str) -> str:
        """The text of the bot's notice in reply to ``event_id``."""
        found = account.wait_for_message(
            room,
            self.bot.user_id,
            lambda e: (
                e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                == event_id
            ),
        )
        body: str = found["content"]["body"]
        return body

    def forward(self, path: str = "/charge") -> dict[str, Any]:
        """The agent's gated POST; its 202 body."""
        response = httpx.post(
            self.proxy.url + "/forward",
            headers={
                "X-TAP-Key": self.agent_key,
                "X-TAP-Credential": CREDENTIAL,
                "X-TAP-Target": self.upstream.url + path,
                "X-TAP-Method": "POST",
                "Content-Type": "application/json",
            },
            content=b'{"amount": 42}',
            timeout=30,
        )
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def status(self, txn_id: str) -> str:
        polled = httpx.get(
            f"{self.proxy.url}/agent/approvals/{txn_id}",
            headers={"X-TAP-Key": self.agent_key},
            timeout=10,
        )
        assert polled.status_code == 200, polled.text
        status: str = polled.json()["status"]
        return status

    def wait_status(self, txn_id: str, wanted: str) -> None:
        wait_for(lambda: self.status(txn_id), lambda s: s == wanted, 30)

    def approval_message(self, path: str = "/charge") -> dict[str, Any]:
        """The bot's approval message in the room for the request to ``path``."""
        return self.alice.wait_for_message(
            self.room,
            self.bot.user_id,
            lambda e: (
                "Approval needed" in e["content"].get("body", "")
                and f"{self.upstream.url}{path}" in e["content"]["body"]
            ),
        )

    def edit_of(self, event_id: str) -> str:
        """The latest text the bot edited its message ``event_id`` to."""
        found = self.alice.wait_for_message(
            self.room,
            self.bot.user_id,
            lambda e: (
                e["content"].get("m.relates_to", {}).get("event_id") == event_id
                and e["content"]["m.relates_to"].get("rel_type") == "m.replace"
            ),
        )
        body: str = found["content"]["m.new_content"]["body"]
        return body

    def forwarded(self, path: str = "/charge") -> int:
        return sum(1 for r in self.upstream.received if r.path == path)


def tap_env(
    tmp: Path,
    database_url: str,
    resend: FakeResend,
    bot: MatrixUser,
    synapse: Synapse,
    *,
    passkeys: bool,
) -> dict[str, str]:
    env = {
        **resend_env(resend),
        "MATRIX_HOMESERVER_URL": synapse.url,
        "MATRIX_ACCESS_TOKEN": bot.access_token,
        "TAP_APPROVAL_TIMEOUT_SECS": "300",
    }
    if passkeys:
        # A passkey-only request needs an approve page to point at.
        env.update(WEBAUTHN_RP_ID="tap.example.test", WEBAUTHN_RP_ORIGIN=ORIGIN, TAP_APP_URL=ORIGIN)
    return base_env(tmp, database_url, **env)


async def sign_up_owner(api: RemoteApi, *, passkeys: bool) -> Member:
    if not passkeys:
        return await api.signup("acme", OWNER)
    # With passkeys on, signing in takes one: enrol a software authenticator.
    person = PasskeyClient(api.url).signup(api.resend, "acme", OWNER)
    me = await api.call("GET", "/user/me", person.token)
    return Member(OWNER, person.token, person.user_id, me.body["team_id"])


async def set_up_team(api: RemoteApi, *, passkeys: bool) -> tuple[Member, str]:
    """An owner with a credential for the upstream and an agent that may use it."""
    owner = await sign_up_owner(api, passkeys=passkeys)
    created = await api.call(
        "POST",
        "/team/credentials",
        owner.token,
        json={"name": CREDENTIAL, "allowed_hosts": ["127.0.0.1"], "value": SECRET},
    )
    assert created.status == 201, created.body
    agent = await api.call(
        "POST", "/team/agents", owner.token, json={"id": "bot", "credentials": [CREDENTIAL]}
    )
    assert agent.status == 201, agent.body
    return owner, agent.body["api_key"]


@pytest.fixture
def passkeys() -> bool:
    """Whether the TAP has passkeys set up; a test turns them on with parametrize."""
    return False


@pytest.fixture
async def matrix_tap(
    tmp_path: Path,
    database_url: str,
    synapse: Synapse,
    resend: FakeResend,
    upstream: Upstream,
    passkeys: bool,
) -> AsyncIterator[MatrixTap]:
    bot = synapse.register()
    env = tap_env(tmp_path, database_url, resend, bot, synapse, passkeys=passkeys)
    proxy = start_proxy(tmp_path, env)
    try:
        api = RemoteApi(proxy.url, resend)
        owner, agent_key = await set_up_team(api, passkeys=passkeys)
        alice = synapse.register()
        room = alice.create_room(invite=(bot.user_id,))
        bot_in(room, bot, alice)
        channel = await api.call(
            "POST",
            "/team/notification-channels",
            owner.token,
            json={"channel_type": "matrix", "name": "ops", "config": {"room_id": room}},
        )
        assert channel.status == 201, channel.body
        yield MatrixTap(synapse, proxy, api, upstream, bot, owner, alice, room, agent_key)
    finally:
        code = proxy.stop()
        assert code == 0, proxy.log()
