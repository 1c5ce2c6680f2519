"""The bot's sync loop: long-poll ``/sync``, join rooms it is invited to, hand on the rest.

A loop started without a ``since`` token (the bot never synced before)
first only records where the room timelines are: whatever was said before the bot started is history, not a
decision, so its verdicts and texts are dropped. Invites found there are
still accepted, since an invite waits for an answer however old it is.

Every later sync is read with :func:`~app.channels.matrix.events.read_sync`;
the loop joins invites itself (a direct-chat invite is recorded in the
bot's ``m.direct``, as Matrix clients do) and awaits ``handle`` for each verdict and
text, one at a time and in order. A failure of ``handle`` is logged and the
loop goes on; a failed sync waits :data:`RETRY_DELAY_SECS` and tries again
from the same token, so nothing is skipped. After each sync, ``on_synced``
gets the new token (the channel saves it); if that raises, the loop ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from app.channels.matrix import events
from app.channels.matrix.client import MatrixClient, MatrixError

logger = logging.getLogger(__name__)

SYNC_TIMEOUT_MS: Final = 30_000
RETRY_DELAY_SECS: Final = 2.0

Handler = Callable[[events.Verdict | events.Text], Awaitable[None]]
TokenSink = Callable[[str], Awaitable[None]]


async def _forget(_token: str) -> None:
    return None


class SyncLoop:
    """One bot account's sync loop; :meth:`run` until cancelled."""

    def __init__(
        self,
        client: MatrixClient,
        me: str,
        handle: Handler,
        *,
        since: str | None = None,
        on_synced: TokenSink = _forget,
        timeout_ms: int = SYNC_TIMEOUT_MS,
        retry_delay_secs: float = RETRY_DELAY_SECS,
    ) -> None:
        self._client = client
        self._me = me
        self._handle = handle
        self._timeout_ms = timeout_ms
        self._retry_delay_secs = retry_delay_secs
        self._on_synced = on_synced
        self.since = since
        self.caught_up = asyncio.Event()
        """Set once the first sync is done: from then on, new events are acted on."""

    async def run(self) -> None:
        """Sync until cancelled, or until ``on_synced`` raises (which propagates)."""
        while True:
            first = self.since is None
            try:
                answer = await self._client.sync(self.since, 0 if first else self._timeout_ms)
            except MatrixError as exc:
                logger.warning("matrix sync failed (%s); retrying", exc)
                await asyncio.sleep(self._retry_delay_secs)
                continue
            if not first:
                for room_id in events.gaps(answer):
                    # More happened than one sync returns: older votes there are not seen.
                    logger.warning("matrix room %s had more events than one sync holds", room_id)
            for item in events.read_sync(answer, me=self._me):
                if isinstance(item, events.Invite):
                    await self._join(item)
                elif not first:
                    await self._dispatch(item)
            token = events.next_batch(answer)
            if token is not None and token != self.since:
                self.since = token
                await self._on_synced(token)
            if self.since is not None:
                self.caught_up.set()

    async def _join(self, invite: events.Invite) -> None:
        try:
            await self._client.join(invite.room_id)
            logger.info("matrix bot joined room %s", invite.room_id)
            if invite.direct and invite.inviter is not None:
                # Remembered as Matrix clients do, so only this person can link here.
                await self._client.mark_direct(self._me, invite.inviter, invite.room_id)
        except MatrixError as exc:
            logger.warning("matrix bot could not join room %s (%s)", invite.room_id, exc)

    async def _dispatch(self, item: events.Verdict | events.Text) -> None:
        try:
            await self._handle(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "matrix event %s in room %s was not handled", item.event_id, item.room_id
            )
