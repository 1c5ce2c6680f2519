"""Per-worker caches of what ``/forward`` reads on every request.

Entries live ``TAP_CACHE_TTL_SECS`` at most, and a :class:`ChangeListener`
drops a team's entries the moment any replica commits a change to that team
(see :mod:`app.store.events`), so a disabled agent is refused everywhere within
the notification's delivery time, not the TTL. If the listening connection is
lost, every cache is cleared and the listener reconnects; until it does, the
TTL alone bounds staleness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

import asyncpg

from app.store.events import CACHE_CHANNEL

logger = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

RECONNECT_DELAY_SECS: Final = 1.0
MAX_ENTRIES: Final = 100_000


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    team_id: str
    expires: float


class TeamCache(Generic[K, V]):
    """A TTL cache whose entries belong to a team and can be dropped per team."""

    def __init__(self, ttl_secs: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_secs
        self._clock = clock
        self._entries: dict[K, _Entry[V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._entries[key]
            return None
        return entry.value

    def put(self, key: K, team_id: str, value: V) -> None:
        if self._ttl <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = _Entry(value, team_id, self._clock() + self._ttl)

    def drop_team(self, team_id: str) -> None:
        for key in [k for k, e in self._entries.items() if e.team_id == team_id]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


class LruCache(Generic[K, V]):
    """A bounded map that forgets the least recently used entry. For values derived from content."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class ChangeListener:
    """Listens on the cache channel and invalidates the given caches."""

    def __init__(self, database_url: str, caches: list[TeamCache[object, object]]) -> None:
        self._url = database_url
        self._caches = caches
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tap-cache-listener")
        # Wait briefly for the first connection so start-up is consistent.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), 5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        for cache in self._caches:
            cache.drop_team(str(payload))

    async def _run(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._url)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CACHE_CHANNEL, self._on_notify)
                # Anything cached before we listened may be stale.
                for cache in self._caches:
                    cache.clear()
                self._connected.set()
                await lost.wait()
                logger.warning("cache listener lost its connection; clearing caches")
            except asyncio.CancelledError:
                raise
            except Exception:  # reconnect on any failure; the TTL bounds staleness meanwhile
                logger.warning("cache listener cannot connect; retrying")
            finally:
                for cache in self._caches:
                    cache.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(RECONNECT_DELAY_SECS)
