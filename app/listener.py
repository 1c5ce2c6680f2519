"""One ``LISTEN`` connection per worker, with its reconnect loop, for every channel.

The caches (:mod:`app.cache`) and the approval executor both learn of other
replicas' commits through Postgres notifications. They subscribe here instead
of each holding a connection and its own retry loop. A subscriber also gives
an ``on_reset`` callback, run whenever notifications may have been missed (on
every (re)connect and when the connection is lost), so it can fall back to
what it does without them: caches clear, the executor sweeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import asyncpg

logger = logging.getLogger(__name__)

RECONNECT_DELAY_SECS: Final = 1.0
FIRST_CONNECT_WAIT_SECS: Final = 5.0


@dataclass(frozen=True, slots=True)
class Subscription:
    channel: str
    on_notify: Callable[[str], None]
    """Called with the payload of each notification."""
    on_reset: Callable[[], None]
    """Called when notifications may have been missed."""


class Listener:
    """Keeps one listening connection open and dispatches notifications by channel."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._subscriptions: list[Subscription] = []
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def subscribe(
        self,
        channel: str,
        on_notify: Callable[[str], None],
        on_reset: Callable[[], None] = lambda: None,
    ) -> None:
        """Add a subscriber; effective at once if the connection is open."""
        subscription = Subscription(channel, on_notify, on_reset)
        self._subscriptions.append(subscription)
        conn = self._conn
        if conn is not None and not conn.is_closed():
            # Adding the same callback twice is a no-op; a lost connection resubscribes.
            with contextlib.suppress(Exception):
                await conn.add_listener(channel, self._dispatch)
            on_reset()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tap-listener")
        # Wait briefly for the first connection so start-up is consistent.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), FIRST_CONNECT_WAIT_SECS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        for subscription in list(self._subscriptions):
            if subscription.channel == channel:
                try:
                    subscription.on_notify(str(payload))
                except Exception:
                    logger.exception("a %s subscriber failed", channel)

    def _reset(self) -> None:
        for subscription in list(self._subscriptions):
            try:
                subscription.on_reset()
            except Exception:
                logger.exception("a %s subscriber failed to reset", subscription.channel)

    async def _run(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._url)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                self._conn = conn
                for channel in dict.fromkeys(s.channel for s in self._subscriptions):
                    await conn.add_listener(channel, self._dispatch)
                # Anything that happened before we listened was missed.
                self._reset()
                self._connected.set()
                await lost.wait()
                logger.warning("notification listener lost its connection; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception:  # reconnect on any failure; subscribers fall back meanwhile
                logger.warning("notification listener cannot connect; retrying")
            finally:
                self._conn = None
                self._connected.clear()
                self._reset()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(RECONNECT_DELAY_SECS)
