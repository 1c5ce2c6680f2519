"""Run a channel's inbound loop on one worker of all replicas at a time.

A Telegram bot may have one ``getUpdates`` long-poll open (a second makes
Telegram end the first with 409), and every poller or Matrix sync loop would
act on the same updates: so each worker tries to take the loop's lead
(:mod:`app.store.leads`), the one that does runs the loop on the connection
that holds the lock, and the others try again every :data:`LEAD_RETRY_SECS`,
taking over within that time when the leader stops or loses its database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import asyncpg

from app.channels.base import DeliveryFailed
from app.errors import StoreError
from app.store import db, leads

logger = logging.getLogger(__name__)

LEAD_RETRY_SECS: Final = 2.0
"""How often a worker that does not run the loop checks whether it should."""


async def lead_forever(
    pool: asyncpg.Pool,
    lock_name: Callable[[], Awaitable[str]],
    loop: Callable[[db.Conn], Awaitable[None]],
    what: str,
) -> None:
    """Run ``loop(conn)`` whenever this worker holds the lead named ``lock_name()``; never returns.

    ``loop`` gets the connection that holds the lock; anything it stores
    there fails once the lock is gone, which is how it learns to stop.
    A failure of the channel or the database is logged and tried again; a
    bug is logged with its traceback and the loop started again, so it cannot
    end the channel's decisions for good.
    """
    while True:
        try:
            name = await lock_name()
            async with db.connection(pool) as conn:
                if await leads.try_take(conn, name):
                    logger.info("%s runs on this worker", what)
                    try:
                        await loop(conn)
                    finally:
                        with contextlib.suppress(Exception):
                            await leads.give_up(conn, name)
        except (DeliveryFailed, StoreError) as exc:
            logger.warning("%s stopped (%s); retrying", what, exc)
        except Exception:
            logger.exception("%s crashed; restarting", what)
        await asyncio.sleep(LEAD_RETRY_SECS)
