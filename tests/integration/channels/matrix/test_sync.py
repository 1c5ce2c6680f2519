"""The bot's client and sync loop against a real Synapse: what it joins, sees and ignores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from app.channels.matrix import message
from app.channels.matrix.client import MatrixClient, MatrixError
from app.channels.matrix.events import Text, Verdict
from app.channels.matrix.sync import SyncLoop
from app.secret import Secret
from tests.support.synapse import MatrixUser, Synapse
from tests.support.waiting import until


@dataclass
class Bot:
    user: MatrixUser
    client: MatrixClient
    seen: list[Verdict | Text] = field(default_factory=list)

    async def record(self, item: Verdict | Text) -> None:
        self.seen.append(item)


@pytest.fixture
async def bot(synapse: Synapse) -> AsyncIterator[Bot]:
    user = synapse.register()
    async with aiohttp.ClientSession() as http:
        yield Bot(user, MatrixClient(http, synapse.url, Secret(user.access_token)))


async def test_whoami_names_the_bot_and_a_bad_token_is_a_permanent_error(
    synapse: Synapse, bot: Bot
) -> None:
    assert await bot.client.whoami() == bot.user.user_id
    async with aiohttp.ClientSession() as http:
        stranger = MatrixClient(http, synapse.url, Secret("syt_not_a_token"))
        with pytest.raises(MatrixError) as refused:
            await stranger.whoami()
    assert (refused.value.status, refused.value.errcode) == (401, "M_UNKNOWN_TOKEN")
    assert refused.value.permanent
    assert "syt_not_a_token" not in str(refused.value) + repr(stranger)


async def test_sending_to_a_room_the_bot_is_not_in_says_not_in_room(
    synapse: Synapse, bot: Bot
) -> None:
    alice = synapse.register()
    room = alice.create_room()
    with pytest.raises(MatrixError) as refused:
        await bot.client.send(room, "m.room.message", message.notice("hello"))
    assert refused.value.not_in_room


async def test_the_loop_joins_invites_skips_the_backlog_and_hands_on_new_decisions(
    synapse: Synapse, bot: Bot
) -> None:
    alice = synapse.register()
    room = alice.create_room(invite=(bot.user.user_id,))
    await bot.client.join(room)
    ours = await bot.client.send(room, "m.room.message", message.notice("approve me?"))
    # Said before the bot started: history, never a decision.
    alice.react(room, ours, "✅")
    alice.reply(room, ours, "approve")
    # An invite that waited while the bot was away is still accepted.
    waiting_room = alice.create_room(invite=(bot.user.user_id,))

    loop = SyncLoop(bot.client, bot.user.user_id, bot.record, timeout_ms=1000)
    task = asyncio.create_task(loop.run())
    try:
        await asyncio.wait_for(loop.caught_up.wait(), 30)
        await until(lambda: alice.joined_members(waiting_room), lambda m: bot.user.user_id in m)
        new_room = alice.create_room(invite=(bot.user.user_id,))
        await until(lambda: alice.joined_members(new_room), lambda m: bot.user.user_id in m)

        reaction = alice.react(room, ours, "❌\ufe0f")  # some clients add a variation selector
        reply = alice.reply(room, ours, "  Deny ", quoted="approve me?")
        alice.react(room, ours, "👍")  # not a decision
        code = alice.send_text(room, "tap-link-123")
        await bot.client.send(room, "m.room.message", message.notice("the bot's own words"))
        await bot.client.send(
            room,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": ours, "key": "✅"}},
        )
        marker = alice.send_text(room, "done")
        await until(lambda: [i.event_id for i in bot.seen], lambda ids: marker in ids, timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert bot.seen == [
        Verdict(room, alice.user_id, ours, "deny", reaction),
        Verdict(room, alice.user_id, ours, "deny", reply),
        Text(room, alice.user_id, "tap-link-123", code),
        Text(room, alice.user_id, "done", marker),
    ]
