"""How a running process learns of a key rotation: a notification, no restart.

``tap key rotate`` notifies :data:`~app.store.key_versions.KEYRING_CHANNEL`
when it adds a key version and when it retires one. On either (and whenever
notifications may have been missed) the watcher re-reads the key versions and
swaps the runtime's key ring. A retired version's keys are dropped only after
:data:`RETIRED_KEY_GRACE_SECS`, and the caches holding sealed values are
cleared at once, so a request that read a value just before the rotation
finished still opens it. A ciphertext under a version the ring does not hold
yet triggers the same refresh on the spot (:meth:`app.runtime.Runtime.keys_for`),
so no request depends on the notification arriving first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Final

from app.crypto import KeyRing
from app.listener import Listener
from app.store import db, key_versions

if TYPE_CHECKING:
    from app.runtime import Runtime

logger = logging.getLogger(__name__)

RETIRED_KEY_GRACE_SECS: Final = 30.0


class KeyWatcher:
    """Keeps ``runtime.keys`` in step with the database's key versions."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._refreshing: asyncio.Task[None] | None = None
        self._again = False
        self._drops: set[asyncio.Task[None]] = set()

    async def watch(self, listener: Listener) -> None:
        await listener.subscribe(
            key_versions.KEYRING_CHANNEL, lambda _payload: self.poke(), self.poke
        )

    def poke(self) -> None:
        """Refresh soon; pokes during a refresh coalesce into one more."""
        if self._refreshing is not None and not self._refreshing.done():
            self._again = True
            return
        self._refreshing = asyncio.get_running_loop().create_task(self._refresh())

    async def stop(self) -> None:
        for task in (self._refreshing, *self._drops):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _refresh(self) -> None:
        while True:
            self._again = False
            try:
                async with db.connection(self._rt.pool) as conn:
                    fresh = await key_versions.refresh(conn, self._rt.keys)
            except Exception:  # the next notification or reconnect tries again
                logger.warning("cannot re-read the key versions; keeping the current keys")
                return
            self._adopt(fresh)
            if not self._again:
                return

    def _adopt(self, fresh: KeyRing) -> None:
        current = self._rt.keys
        gone = set(current.versions) - set(fresh.versions)
        if not gone:
            self._rt.set_keys(fresh)
            return
        # Keep the retired keys a little longer for requests already under way.
        kept = {**current.versions, **fresh.versions}
        self._rt.config_cache.clear()
        self._rt.set_keys(fresh.with_versions(kept, write_version=fresh.write_version))
        logger.info(
            "key versions %s retired; new writes use version %d", sorted(gone), fresh.write_version
        )
        task = asyncio.get_running_loop().create_task(self._drop_later(gone))
        self._drops.add(task)
        task.add_done_callback(self._drops.discard)

    async def _drop_later(self, gone: set[int]) -> None:
        await asyncio.sleep(RETIRED_KEY_GRACE_SECS)
        ring = self._rt.keys
        kept = {v: k for v, k in ring.versions.items() if v not in gone}
        if kept and ring.write_version in kept:
            self._rt.set_keys(ring.with_versions(kept, write_version=ring.write_version))
