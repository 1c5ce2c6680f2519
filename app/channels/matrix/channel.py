"""The Matrix approval channel: announce requests in a room, take decisions from it.

Outbound (any replica, driven by the outbox dispatcher): :meth:`deliver`
sends the approval message to the row's room and answers ``{room_id,
event_id, summary}``; :meth:`resolve` edits that message (``m.replace``) to
say who decided.

Inbound (one worker of all replicas at a time, :mod:`app.channels.leading`):
the leader runs the :class:`~app.channels.matrix.sync.SyncLoop` from the saved
sync token, so two workers never act on the same event.
Each event goes through the one shared path:

- a ✅/❌ reaction or an approve/deny reply to one of our messages is a vote
  by the Matrix account that sent it, decided by
  :func:`app.channels.deciding.decide` (verified link, eligibility, quorum,
  no approving a passkey request from chat); a refusal is answered with a
  notice in the room and changes nothing;
- a link code sent in a direct chat (the sender invited the bot to it as
  one, and no one else is in it) links that account. NOTE: a code seen anywhere else is voided unused, since
  others in the room could read it and link their own account with it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, Final

from app.channels import deciding, identities, leading
from app.channels.base import (
    ChannelDeps,
    DeliveryFailed,
    LinkInstructions,
    MessageRef,
    Notice,
    Outcome,
)
from app.channels.matrix import events, message
from app.channels.matrix.client import MatrixClient, MatrixError
from app.channels.matrix.sync import SyncLoop
from app.config import Config
from app.store import db
from app.store import matrix as store

logger = logging.getLogger(__name__)

KIND: Final = "matrix"
SYNC_LEAD: Final = "tap/matrix-sync/"
"""The lead (:mod:`app.channels.leading`) of the sync loop, per bot account."""
MAX_SUMMARY_CHARS: Final = 300

LINKED: Final = "Linked: your reactions and replies here now count as your decisions in TAP."
BAD_CODE: Final = "That link code is unknown, used or expired. Ask TAP for a new one."
CODE_VOIDED: Final = (
    "Link codes only work in a direct message with me. Others here could read this one,"
    " so it no longer works: ask TAP for a new one and send it to me directly."
)


def wired(config: Config) -> bool:
    """Matrix is on when the homeserver and the bot's token are both set."""
    return config.matrix_homeserver_url is not None and config.matrix_access_token is not None


def destination(config: Config, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """The room to post to: the row's (or policy's) ``room_id``, else ``MATRIX_ROOM_ID``."""
    room_id = wanted.get("room_id") or config.matrix_room_id
    if not isinstance(room_id, str) or not room_id.startswith("!"):
        return None
    return {**wanted, "room_id": room_id}


class MatrixChannel:
    """One bot account on one homeserver."""

    kind: ClassVar[str] = KIND

    def __init__(self, deps: ChannelDeps) -> None:
        config = deps.config
        assert config.matrix_homeserver_url is not None
        assert config.matrix_access_token is not None
        self._pool = deps.pool
        self.homeserver_url = config.matrix_homeserver_url
        self.client = MatrixClient(
            deps.http, config.matrix_homeserver_url, config.matrix_access_token
        )
        self._me: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.sync: SyncLoop | None = None
        """The running sync loop while this replica leads, else None."""

    # ApprovalChannel ----------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(
            leading.lead_forever(self._pool, self._lock_name, self._sync, "matrix sync loop"),
            name="matrix-sync",
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def deliver(self, notice: Notice) -> MessageRef | None:
        """Post the approval message. Raises DeliveryFailed (MatrixError)."""
        room_id = notice.channel_config.get("room_id")
        if not isinstance(room_id, str) or not room_id.startswith("!"):
            raise DeliveryFailed("matrix: no room id to post to", permanent=True)
        event_id = await self._send(room_id, message.approval(notice))
        summary = f"{notice.method} {notice.target_url} ({notice.credential_name}, agent {notice.agent_id})"
        return {"room_id": room_id, "event_id": event_id, "summary": summary[:MAX_SUMMARY_CHARS]}

    async def resolve(self, ref: MessageRef, outcome: Outcome) -> None:
        """Edit the message at ``ref`` to say what became of the request. Raises DeliveryFailed."""
        room_id, event_id = ref.get("room_id"), ref.get("event_id")
        if not isinstance(room_id, str) or not isinstance(event_id, str):
            raise DeliveryFailed("matrix: the message reference is incomplete", permanent=True)
        text = message.outcome_line(outcome)
        if summary := ref.get("summary"):
            text = f"{text}\n{summary}"
        await self._send(room_id, message.edit(event_id, text))

    # LinksIdentities ----------------------------------------------------------------

    async def link_instructions(self, code: str) -> LinkInstructions:
        """Raises DeliveryFailed (MatrixError) when the homeserver cannot say who the bot is."""
        me = await self.bot_id()
        return LinkInstructions(
            instructions=f"Start a direct message with {me} and send it this code: {code}",
            bot=me,
        )

    # Sending ------------------------------------------------------------------------

    async def _send(self, room_id: str, content: dict[str, Any]) -> str:
        try:
            return await self.client.send(room_id, "m.room.message", content)
        except MatrixError as exc:
            if not exc.not_in_room:
                raise
        # Invited while the bot was away, or removed and invited again: join, then retry once.
        await self.client.join(room_id)
        return await self.client.send(room_id, "m.room.message", content)

    async def _tell(self, room_id: str, text: str, reply_to: str) -> None:
        """A short notice in reply to someone; best effort (a lost notice changes nothing)."""
        try:
            await self.client.send(room_id, "m.room.message", message.notice(text, reply_to))
        except MatrixError as exc:
            logger.warning("matrix notice in room %s not sent (%s)", room_id, exc)

    async def _is_direct(self, room_id: str, sender: str) -> bool:
        """A direct chat: ``sender`` invited the bot to it as one, and no one else is in it."""
        me = await self.bot_id()
        if room_id not in (await self.client.direct_rooms(me)).get(sender, []):
            return False
        return await self.client.joined_members(room_id) == {me, sender}

    async def bot_id(self) -> str:
        """The bot's user id. Raises MatrixError when the homeserver cannot say."""
        if self._me is None:
            self._me = await self.client.whoami()
        return self._me

    # Inbound ------------------------------------------------------------------------

    async def _lock_name(self) -> str:
        return SYNC_LEAD + await self.bot_id()

    async def _sync(self, conn: db.Conn) -> None:
        me = await self.bot_id()

        async def save(token: str) -> None:
            # NOTE: saved on the lead connection: if it is gone (and the lock with
            # it), this raises and the loop stops before another leader starts.
            await store.save_sync_token(conn, me, token)

        since = await store.sync_token(conn, me)
        self.sync = SyncLoop(self.client, me, self._handle, since=since, on_synced=save)
        await self.sync.run()

    async def _handle(self, item: events.Verdict | events.Text) -> None:
        if isinstance(item, events.Verdict):
            await self._on_verdict(item)
        else:
            await self._on_text(item)

    async def _on_verdict(self, verdict: events.Verdict) -> None:
        async with db.connection(self._pool) as conn:
            txn_id = await store.txn_for_message(
                conn, room_id=verdict.room_id, event_id=verdict.target_event_id
            )
        if txn_id is None:
            return  # a reaction to anything but our message is conversation
        result = await deciding.decide(
            self._pool,
            kind="matrix",
            external_id=verdict.sender,
            txn_id=txn_id,
            decision=verdict.decision,
        )
        if result.code == "recorded" and result.status != "pending":
            return  # the dispatcher edits every channel's message, this one included
        await self._tell(verdict.room_id, result.text, verdict.event_id)

    async def _on_text(self, text: events.Text) -> None:
        if not identities.CODE_PATTERN.match(text.body):
            return
        if not await self._is_direct(text.room_id, text.sender):
            async with db.transaction(self._pool) as conn:
                voided = await identities.void(conn, kind=self.kind, code=text.body)
            if voided:  # otherwise it was just a word that looks like a code
                logger.info("matrix link code seen in shared room %s: voided", text.room_id)
                await self._tell(text.room_id, CODE_VOIDED, text.event_id)
            return
        linked = await deciding.link(
            self._pool, kind=self.kind, code=text.body, external_id=text.sender, display=text.sender
        )
        await self._tell(text.room_id, LINKED if linked else BAD_CODE, text.event_id)
