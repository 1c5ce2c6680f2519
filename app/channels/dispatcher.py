"""Deliver outbox rows and update delivered messages after a decision, once across replicas.

Every worker runs one dispatcher for the channels it has wired. It wakes when
rows are added (``NOTIFY tap_channel_outbox``) or a request is decided
(``NOTIFY tap_approvals``), both through the worker's shared
:class:`~app.listener.Listener`, and also sweeps every
:data:`SWEEP_INTERVAL_SECS` (missed notifications, retries, expiries). Rows
are leased with ``FOR UPDATE SKIP LOCKED`` (:func:`app.store.outbox.claim`),
so a message goes out once even with many replicas. A failure is retried
with exponential back-off up to :data:`MAX_ATTEMPTS`; nothing here can delay
or fail the agent's request, which was answered before the row was read.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from app.approvals.decisions import NOTIFY_CHANNEL as DECIDED
from app.channels.base import ApprovalChannel, DeliveryFailed
from app.channels.notices import notice_for, outcome_of
from app.errors import AlreadyDecided, ApprovalNotFound
from app.store import db, outbox
from app.store.outbox import OutboxRow

if TYPE_CHECKING:
    from app.runtime import Runtime

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_SECS: Final = 2.0
BATCH: Final = 20
LEASE: Final = dt.timedelta(seconds=60)
"""Longer than any channel call may take (the hub's session times out after 15 s)."""
MAX_ATTEMPTS: Final = 8
MAX_BACKOFF_SECS: Final = 300
PURGE_EVERY_SWEEPS: Final = 150
"""About every five minutes, finished rows older than a day are deleted."""


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4 ... seconds, capped: the wait after the ``attempts``-th failure."""
    return dt.timedelta(seconds=min(2 ** max(attempts - 1, 0), MAX_BACKOFF_SECS))


class Dispatcher:
    def __init__(self, rt: Runtime, channels: Mapping[str, ApprovalChannel]) -> None:
        self._rt = rt
        self._channels = channels
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self._channels:
            return
        listener = self._rt.listener
        if listener is not None:
            await listener.subscribe(outbox.NOTIFY_CHANNEL, self._poke, self._wake.set)
            await listener.subscribe(DECIDED, self._poke)
        self._task = asyncio.create_task(self._run(), name="tap-channel-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _poke(self, _payload: str) -> None:
        self._wake.set()

    async def _run(self) -> None:
        sweeps = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SWEEP_INTERVAL_SECS)
            self._wake.clear()
            sweeps += 1
            try:
                while await self.run_once() == BATCH:
                    pass
                if sweeps % PURGE_EVERY_SWEEPS == 0:
                    async with db.connection(self._rt.pool) as conn:
                        await outbox.purge_finished(conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("channel dispatcher sweep failed; retrying", exc_info=True)

    async def run_once(self) -> int:
        """Claim and work one batch of due rows; how many were claimed."""
        async with db.connection(self._rt.pool) as conn:
            rows = await outbox.claim(conn, kinds=list(self._channels), limit=BATCH, lease=LEASE)
        await asyncio.gather(*(self._work(row) for row in rows))
        return len(rows)

    async def _work(self, row: OutboxRow) -> None:
        channel = self._channels[row.kind]
        try:
            if row.state == "deliver":
                await self._deliver(channel, row)
            else:
                assert row.message_ref is not None
                outcome = outcome_of(
                    row.request_status, row.resolved_by, expired=row.request_expired
                )
                await channel.resolve(row.message_ref, outcome)
                async with db.connection(self._rt.pool) as conn:
                    await outbox.done(conn, row.id)
                logger.info(
                    "%s message of request %s updated: %s", row.kind, row.txn_id, outcome.status
                )
        except Exception as exc:
            permanent = isinstance(exc, DeliveryFailed) and exc.permanent
            give_up = permanent or row.attempts + 1 >= MAX_ATTEMPTS
            reason = str(exc) if isinstance(exc, DeliveryFailed) else type(exc).__name__
            if not isinstance(exc, DeliveryFailed):
                logger.exception("%s channel failed on request %s", row.kind, row.txn_id)
            logger.warning(
                "%s %s of request %s failed (attempt %d%s): %s",
                row.kind,
                "delivery" if row.state == "deliver" else "update",
                row.txn_id,
                row.attempts + 1,
                ", giving up" if give_up else "",
                reason,
            )
            async with db.connection(self._rt.pool) as conn:
                await outbox.retry_later(
                    conn, row.id, error=reason, delay=backoff(row.attempts + 1), give_up=give_up
                )

    async def _deliver(self, channel: ApprovalChannel, row: OutboxRow) -> None:
        async with db.connection(self._rt.pool) as conn:
            if row.request_status != "pending" or row.request_expired:
                await outbox.done(conn, row.id)  # decided before anyone was told
                return
            try:
                notice = await notice_for(
                    conn,
                    self._rt.config,
                    team_id=row.team_id,
                    txn_id=row.txn_id,
                    channel_name=row.channel_name,
                    destination=row.destination,
                )
            except (ApprovalNotFound, AlreadyDecided):
                await outbox.done(conn, row.id)
                return
        ref = await channel.deliver(notice)
        async with db.connection(self._rt.pool) as conn:
            await outbox.delivered(conn, row.id, ref)
        logger.info("%s notice of request %s delivered", row.kind, row.txn_id)
