"""Per-worker caches of what ``/forward`` reads on every request.

Entries live ``TAP_CACHE_TTL_SECS`` at most, and :func:`invalidate_on_change`
(on the worker's :class:`~app.listener.Listener`) drops a team's entries the
moment any replica commits a change to that team (see :mod:`app.store.events`),
so a disabled agent is refused everywhere within the notification's delivery
time, not the TTL. If the listening connection is
lost, every cache is cleared and the listener reconnects; until it does, the
TTL alone bounds staleness.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from app.listener import Listener
from app.store.events import CACHE_CHANNEL

K = TypeVar("K")
V = TypeVar("V")

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


async def invalidate_on_change(listener: Listener, caches: Sequence[TeamCache[Any, Any]]) -> None:
    """Drop a team's entries when any replica changes that team; clear all if notices may be lost."""

    def drop(team_id: str) -> None:
        for cache in caches:
            cache.drop_team(team_id)

    def clear() -> None:
        for cache in caches:
            cache.clear()

    await listener.subscribe(CACHE_CHANNEL, drop, clear)
