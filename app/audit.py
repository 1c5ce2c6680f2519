"""The audit trail: one record per outcome, to a JSONL file and to Postgres.

Records are queued by the request and written by a background task in
batches, so the hot path never waits on disk or the database. Each batch is
appended to its teams' hash chains in Postgres (:mod:`app.store.audit`), and
what the database committed (each record with its link, and any checkpoint
signed over them) is then appended to the JSONL file. The writers of one host
take an exclusive lock on ``<file>.lock`` around commit and append, so the
file holds its records in chain order. Checkpoints are also signed every
``TAP_AUDIT_CHECKPOINT_SECS`` for chains that stopped growing, and copied to
``TAP_AUDIT_CHECKPOINT_LOG`` when set.

- A record the database *refuses* (something in it, not an outage) is tried
  alone, set aside in the spool's ``rejected/`` folder and logged by request
  id; the rest of its batch is stored. It is in no chain and not in the file.
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
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Final

import asyncpg

from app.audit_chain import Chained, Checkpoint, CheckpointPolicy, file_line
from app.audit_record import AuditRecord, now_iso
from app.audit_spool import AuditSpool
from app.errors import DatabaseUnavailable, StoreError
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

    def __init__(
        self,
        pool: asyncpg.Pool,
        path: Path,
        spool: AuditSpool,
        policy: CheckpointPolicy,
        checkpoint_log: Path | None = None,
    ) -> None:
        self._pool = pool
        self._path = path
        self._spool = spool
        self._policy = policy
        self._checkpoint_log = checkpoint_log
        self._lock_fd: int | None = None
        self._next_sign = time.monotonic() + policy.every_secs
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
        lock_path = self._path.with_name(self._path.name + ".lock")
        try:
            self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            # Like an unwritable audit file: said loudly, and Postgres still gets every record.
            logger.exception("cannot open %s; the audit file may leave chain order", lock_path)
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
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            try:
                await self._store(batch)
                if time.monotonic() >= self._next_sign:
                    await self._sign_due()
            except Exception:
                # NOTE: the writer must outlive any single failure, or every later record
                # would wait forever; what failed is in the spool or the log.
                logger.exception("audit writer failed on a batch of %d records", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _collect(self) -> list[AuditRecord]:
        """The next batch; empty when it is time to retry the spool and nothing arrived."""
        wake = self._next_sign
        if self._spool_pending:
            wake = min(wake, self._next_retry)
        timeout = max(0.0, wake - time.monotonic())
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

    @contextlib.asynccontextmanager
    async def _file_lock(self) -> AsyncIterator[None]:
        """Hold the host-wide lock around a commit and its append, so the file keeps chain order."""
        fd = self._lock_fd
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Another worker is between its commit and its append: wait off the event loop.
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    async def _write(self, written: Sequence[Chained | Checkpoint]) -> None:
        """Append committed records and checkpoints to the file (and checkpoints to the sink)."""
        if not written:
            return
        lines = [file_line(item) for item in written]
        checkpoints = [
            line for item, line in zip(written, lines, strict=True) if isinstance(item, Checkpoint)
        ]
        try:
            await asyncio.to_thread(_append_lines, self._path, "".join(lines), sync=False)
        except OSError:
            logger.exception("cannot append %d audit lines to %s", len(lines), self._path)
        if checkpoints and self._checkpoint_log is not None:
            try:
                await asyncio.to_thread(
                    _append_lines, self._checkpoint_log, "".join(checkpoints), sync=True
                )
            except OSError:
                logger.exception("cannot append audit checkpoints to %s", self._checkpoint_log)

    async def _sign_due(self) -> None:
        """Sign the chains whose newest records waited long enough for a checkpoint."""
        self._next_sign = time.monotonic() + self._policy.every_secs
        try:
            async with self._file_lock():
                await self._write(await audit_store.sign_due(self._pool, self._policy))
        except StoreError:
            logger.warning("cannot sign audit checkpoints now; trying again later")

    async def _store(self, batch: list[AuditRecord]) -> None:
        """Put ``batch`` in the database, or failing that in the spool; never drop it."""
        if self._spool_pending and not await self._drain_or_skip():
            await self._keep(batch)
            return
        if not batch:
            return
        try:
            await self._insert(batch, fresh=True)
        except DatabaseUnavailable:
            self._database_down()
            await self._keep(batch)

    async def _insert(self, records: list[AuditRecord], *, fresh: bool = False) -> None:
        """Raises DatabaseUnavailable; records the database refuses are set aside.

        ``fresh``: the batch comes straight from the queue, never offered to the database.
        """
        try:
            async with self._file_lock():
                appended = await audit_store.append(self._pool, records, self._policy, fresh=fresh)
                await self._write(appended.written)
            if appended.interrupted:
                raise DatabaseUnavailable("the database went away during the batch")
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            # NOTE: an error nobody expected is handled as an outage: the records are kept
            # and written again later (writes are idempotent), never dropped.
            logger.exception("audit insert failed unexpectedly; keeping %d records", len(records))
            raise DatabaseUnavailable("the audit insert failed") from exc
        for rejected in appended.refused:
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


def _append_lines(path: Path, lines: str, *, sync: bool) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(lines)
        if sync:
            handle.flush()
            os.fsync(handle.fileno())
