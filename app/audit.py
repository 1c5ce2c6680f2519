"""The audit trail: one record per outcome, to a JSONL file and to Postgres.

Records are queued by the request and written by a background task in
batches, so the hot path never waits on disk or the database. The queue is
bounded: when it is full the request waits for room (back-pressure) and a
warning says so; a record is never dropped silently. On shutdown the queue is
drained before the pool closes.

Records never contain a secret: request headers are stored as the agent sent
them with credential-bearing values masked, and bodies are truncated copies of
what the agent sent (TAP injects secrets only after this point).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any, Final

import asyncpg

from app.store import audit as audit_store

logger = logging.getLogger(__name__)

QUEUE_SIZE: Final = 10_000
BATCH_SIZE: Final = 500
BATCH_LINGER_SECS: Final = 0.05
BODY_LIMIT_BYTES: Final = 16 * 1024
SENSITIVE_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "api-key",
    }
)
MASK: Final = "[MASKED]"


def mask_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers safe to log: values of credential-bearing headers are masked unless they are placeholders."""
    out = []
    for name, value in headers:
        if name.lower() in SENSITIVE_HEADERS and not value.strip().startswith("<CREDENTIAL:"):
            value = MASK
        out.append((name, value))
    return out


def body_for_audit(body: bytes) -> tuple[str | None, bool]:
    """A UTF-8 copy of the body cut at 16 KiB on a character boundary, and whether it was cut."""
    if not body:
        return None, False
    truncated = len(body) > BODY_LIMIT_BYTES
    try:
        text = body[:BODY_LIMIT_BYTES].decode(
            "utf-8", errors="strict" if not truncated else "ignore"
        )
    except UnicodeDecodeError:
        return "<binary body, not stored in audit log>", False
    return text, truncated


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class AuditWriter:
    """Background writer for audit records. ``record()`` is what requests call."""

    def __init__(self, pool: asyncpg.Pool, path: Path) -> None:
        self._pool = pool
        self._path = path
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._run(), name="tap-audit-writer")

    async def record(self, entry: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            logger.warning("audit queue full (%d records): applying back-pressure", QUEUE_SIZE)
            await self._queue.put(entry)

    async def stop(self) -> None:
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # Linger briefly so a busy worker writes one batch, not one file append and one
            # INSERT per request.
            if self._queue.qsize() < BATCH_SIZE:
                await asyncio.sleep(BATCH_LINGER_SECS)
            while len(batch) < BATCH_SIZE and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(entry, separators=(",", ":")) + "\n" for entry in batch)
        try:
            await asyncio.to_thread(self._append, lines)
        except OSError:
            logger.exception("cannot append %d audit records to %s", len(batch), self._path)
        for attempt in range(3):
            try:
                await audit_store.insert_many(self._pool, batch)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                logger.warning("audit insert failed (attempt %d); retrying", attempt + 1)
                await asyncio.sleep(0.5 * (attempt + 1))
        logger.error(
            "audit insert gave up on %d records; they remain in %s", len(batch), self._path
        )

    def _append(self, lines: str) -> None:
        with self._path.open("a", encoding="utf-8") as handle:
            handle.write(lines)
