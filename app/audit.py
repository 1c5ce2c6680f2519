"""The audit trail: one record per outcome, to a JSONL file and to Postgres.

Records are queued by the request and written by a background task in
batches, so the hot path never waits on disk or the database. Every record is
appended to the JSONL file first, then stored in Postgres:

- A record the database *refuses* (something in it, not an outage) is tried
  alone, set aside in the spool's ``rejected/`` folder and logged by request
  id; the rest of its batch is stored.
- When the database *cannot be reached*, the batch goes to the disk spool
  (:mod:`app.audit_spool`) and is written once the database is back, oldest
  first, retried with a growing delay. While the spool has files, new batches
  join it, so the database sees them in order.
- When the spool is full, the writer holds the batch and keeps trying; the
  queue fills and requests wait for room (back-pressure), with an error in the
  log. A record is never dropped; on shutdown what is still in memory goes to
  the spool even past its bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Final

import asyncpg

from app.audit_record import AuditRecord, now_iso, render
from app.audit_spool import AuditSpool
from app.errors import DatabaseUnavailable
from app.store import audit as audit_store

__all__ = ["AuditWriter", "now_iso"]

logger = logging.getLogger(__name__)

QUEUE_SIZE: Final = 10_000
BATCH_SIZE: Final = 500
BATCH_LINGER_SECS: Final = 0.05
RETRY_FIRST_SECS: Final = 0.5
RETRY_MAX_SECS: Final = 15.0


class AuditWriter:
    """Background writer for audit records. ``record()`` is what requests call."""

    def __init__(self, pool: asyncpg.Pool, path: Path, spool: AuditSpool) -> None:
        self._pool = pool
        self._path = path
        self._spool = spool
        self._queue: asyncio.Queue[AuditRecord] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        # Files may be left by an earlier run or another worker; look once at start.
        self._spool_pending = True
        self._retry_delay = RETRY_FIRST_SECS
        self._next_retry = 0.0
        self._full_reported = False

    async def start(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._spool.open()
        self._task = asyncio.create_task(self._run(), name="tap-audit-writer")

    async def record(self, entry: AuditRecord) -> None:
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            logger.warning("audit queue full (%d records): applying back-pressure", QUEUE_SIZE)
            await self._queue.put(entry)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._closing.set()
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            try:
                if batch:
                    await self._append(batch)
                await self._store(batch)
            except Exception:
                # NOTE: the writer must outlive any single failure, or every later record
                # would wait forever; what failed is in the JSONL file and the log.
                logger.exception("audit writer failed on a batch of %d records", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _collect(self) -> list[AuditRecord]:
        """The next batch; empty when it is time to retry the spool and nothing arrived."""
        timeout = None
        if self._spool_pending:
            timeout = max(0.0, self._next_retry - time.monotonic())
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return []
        batch = [first]
        # Linger briefly so a busy worker writes one batch, not one file append and one
        # INSERT per request.
        if self._queue.qsize() < BATCH_SIZE:
            await asyncio.sleep(BATCH_LINGER_SECS)
        while len(batch) < BATCH_SIZE and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _append(self, batch: list[AuditRecord]) -> None:
        lines = "".join(json.dumps(render(entry), separators=(",", ":")) + "\n" for entry in batch)
        try:
            await asyncio.to_thread(self._append_lines, lines)
        except OSError:
            logger.exception("cannot append %d audit records to %s", len(batch), self._path)

    def _append_lines(self, lines: str) -> None:
        with self._path.open("a", encoding="utf-8") as handle:
            handle.write(lines)

    async def _store(self, batch: list[AuditRecord]) -> None:
        """Put ``batch`` in the database, or failing that in the spool; never drop it."""
        if self._spool_pending and not await self._drain_or_skip():
            await self._keep(batch)
            return
        if not batch:
            return
        try:
            await self._insert(batch)
        except DatabaseUnavailable:
            self._database_down()
            await self._keep(batch)

    async def _insert(self, records: list[AuditRecord]) -> None:
        """Raises DatabaseUnavailable; records the database refuses are set aside."""
        try:
            refused = await audit_store.insert_many(self._pool, records)
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            # NOTE: an error nobody expected is handled as an outage: the records are kept
            # and written again later (writes are idempotent), never dropped.
            logger.exception("audit insert failed unexpectedly; keeping %d records", len(records))
            raise DatabaseUnavailable("the audit insert failed") from exc
        for rejected in refused:
            logger.error(
                "audit record %s refused by the database (%s); kept in %s",
                rejected.record["request_id"],
                rejected.reason,
                self._spool.directory / "rejected",
            )
            await asyncio.to_thread(self._spool.reject, rejected.record)

    async def _drain_or_skip(self) -> bool:
        """:meth:`_drain`, but a spool that cannot be read does not stop new records."""
        try:
            return await self._drain()
        except OSError:
            logger.exception("cannot drain the audit spool in %s", self._spool.directory)
            return True

    async def _drain(self) -> bool:
        """Write spooled batches to the database, oldest first. False while it is unreachable."""
        if time.monotonic() < self._next_retry:
            return False
        written = 0
        for path in await asyncio.to_thread(self._spool.pending):
            with self._spool.claim(path) as claimed:
                if claimed is None:
                    continue
                try:
                    await self._insert(claimed.records)
                except DatabaseUnavailable:
                    self._database_down()
                    return False
                self._spool.done(claimed)
                written += len(claimed.records)
        if written:
            logger.warning("database is back: wrote %d spooled audit records", written)
        self._spool_pending = False
        self._retry_delay = RETRY_FIRST_SECS
        self._next_retry = 0.0
        self._full_reported = False
        return True

    def _database_down(self) -> None:
        self._spool_pending = True
        self._next_retry = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_SECS)

    async def _keep(self, batch: list[AuditRecord]) -> None:
        """Spool ``batch``; while the spool is full, hold it until the spool or the database takes it."""
        while batch:
            force = self._closing.is_set()
            try:
                spooled = await asyncio.to_thread(self._spool.put, batch, force=force)
            except OSError:
                logger.exception("cannot write to the audit spool in %s", self._spool.directory)
                if force:
                    logger.error(
                        "shutting down: %d audit records are only in %s", len(batch), self._path
                    )
                    return
                spooled = False
            if spooled:
                logger.warning(
                    "database unavailable: %d audit records spooled in %s",
                    len(batch),
                    self._spool.directory,
                )
                self._spool_pending = True
                return
            if not self._full_reported:
                self._full_reported = True
                logger.error(
                    "audit spool full (%s): holding audit records in memory and slowing"
                    " requests until the database is back",
                    self._spool.directory,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._closing.wait(), max(0.0, self._next_retry - time.monotonic())
                )
            if await self._drain_or_skip():
                try:
                    await self._insert(batch)
                    return
                except DatabaseUnavailable:
                    self._database_down()
