"""A real Synapse, and a real tap-proxy whose Matrix bot lives on it.

``synapse`` is one homeserver per test session; every test registers its own
people and rooms. ``mx_team`` is the channels suite's team (owner, agent,
policy: :func:`~tests.integration.channels.conftest.build_team`) on a TAP
whose ``MATRIX_*`` point at a fresh bot account, with the owner's Matrix
account and the team's approval room (its default channel) the bot joined.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.channels.conftest import Person, Team, build_team, proxy_env
from tests.support.fake_resend import FakeResend
from tests.support.proxy import ProxyProcess, start_proxy
from tests.support.synapse import MatrixUser, Synapse
from tests.support.upstream import Upstream
from tests.support.waiting import wait_for

PASSKEYS = {
    "WEBAUTHN_RP_ID": "tap.example.test",
    "WEBAUTHN_RP_ORIGIN": "https://tap.example.test",
    "TAP_APP_URL": "https://tap.example.test",
}


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    """Synapse on loopback with SQLite; tests register their own users and rooms."""
    server = Synapse.start(tmp_path_factory.mktemp("synapse"))
    yield server
    server.stop()


def bot_in(room_id: str, bot: MatrixUser, member: MatrixUser) -> None:
    """Wait until the bot has accepted its invite to ``room_id``."""
    wait_for(lambda: member.joined_members(room_id), lambda joined: bot.user_id in joined, 30)


def replies_to(event_id: str) -> Any:
    """A match for :meth:`MatrixUser.wait_for_message`: a reply to ``event_id``."""
    return lambda e: (
        e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id
    )


@dataclass
class MatrixTeam:
    team: Team
    synapse: Synapse
    bot: MatrixUser
    alice: MatrixUser
    """The owner's Matrix account (not linked until a test links it)."""
    room: str
    """The team's approval room: alice created it and invited the bot."""
    env: dict[str, str]
    """The proxy's settings, to start more replicas or restart it."""
    tmp: Path
    proxies: list[ProxyProcess]
    """Every tap-proxy this test started (all stopped, and checked, at the end)."""

    def start_replica(self, **extra: str) -> ProxyProcess:
        """Another tap-proxy on the same database and bot."""
        proxy = start_proxy(self.tmp, {**self.env, **extra}, name=f"replica{len(self.proxies)}")
        self.proxies.append(proxy)
        return proxy

    def restart(self, **extra: str) -> None:
        """Replace the team's tap-proxy with one that has ``extra`` settings."""
        assert self.team.proxy.stop() == 0, self.team.proxy.log()
        self.team.proxy = self.start_replica(**extra)

    def link(self, person: Person, account: MatrixUser) -> None:
        """Link ``account`` to ``person`` the way a person does: the code, in a DM to the bot."""
        issued = self.team.api.ok("POST", "/user/identities/matrix", person.token)
        assert issued["bot"] == self.bot.user_id and issued["code"] in issued["instructions"]
        dm = account.create_room(invite=(self.bot.user_id,), direct=True)
        bot_in(dm, self.bot, account)
        answer = self.answer_to(account, dm, account.send_text(dm, issued["code"]))
        assert answer.startswith("Linked"), answer

    def join(self, account: MatrixUser) -> MatrixUser:
        """``account`` joins the approval room (alice invites it)."""
        self.alice.invite(self.room, account.user_id)
        account.join(self.room)
        return account

    def answer_to(self, account: MatrixUser, room: str, event_id: str) -> str:
        """The text of the bot's notice in reply to ``event_id``."""
        found = account.wait_for_message(room, self.bot.user_id, replies_to(event_id))
        body: str = found["content"]["body"]
        return body

    def answers_to(self, event_id: str) -> int:
        """How many notices the bot sent in reply to ``event_id`` (so far)."""
        return len(
            [
                e
                for e in self.alice.texts_from(self.room, self.bot.user_id)
                if replies_to(event_id)(e)
            ]
        )

    def approval_message(self, txn: str) -> dict[str, Any]:
        """The bot's approval message for request ``txn`` in the room."""
        return self.alice.wait_for_message(
            self.room, self.bot.user_id, lambda e: f"Request id: {txn}" in e["content"]["body"]
        )

    def edit_of(self, event_id: str) -> str:
        """The text the bot edited its message ``event_id`` to."""
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


def matrix_env(synapse: Synapse, bot: MatrixUser) -> dict[str, str]:
    return {"MATRIX_HOMESERVER_URL": synapse.url, "MATRIX_ACCESS_TOKEN": bot.access_token}


@pytest.fixture
def mx_team(
    tmp_path: Path,
    database_url: str,
    synapse: Synapse,
    resend: FakeResend,
    upstream: Upstream,
) -> Iterator[MatrixTeam]:
    bot = synapse.register()
    env = proxy_env(tmp_path, database_url, resend, **matrix_env(synapse, bot))
    proxies = [start_proxy(tmp_path, env)]
    try:
        team = build_team(proxies[0], resend, upstream)
        alice = synapse.register()
        room = alice.create_room(invite=(bot.user_id,))
        bot_in(room, bot, alice)
        team.api.ok(
            "POST",
            "/team/notification-channels",
            team.owner.token,
            status=201,
            json={"channel_type": "matrix", "name": "ops", "config": {"room_id": room}},
        )
        yield MatrixTeam(team, synapse, bot, alice, room, env, tmp_path, proxies)
    finally:
        codes = [(proxy.stop(), proxy) for proxy in proxies]
        for code, proxy in codes:
            assert code == 0, proxy.log()
