"""Audit records the database could not take yet, kept on disk until it can.

When Postgres is unreachable the audit writer hands each batch to the spool
instead of giving up. A batch becomes one file, written to a temporary name,
flushed to disk and renamed into place, so a crash leaves either the whole
batch or nothing. Files are named by time, so they drain oldest first.

Several worker processes share one spool directory. Whoever drains a file
holds an exclusive ``flock`` on it and checks that the name still points at the
file it locked, so a file is written to the database by one worker only; the
database also ignores a record it already holds (``record_id`` is unique), so
a crash between the insert and the unlink cannot duplicate a record.

The spool is bounded (``TAP_AUDIT_SPOOL_MAX_BYTES``): :meth:`AuditSpool.put`
refuses a batch that would not fit and the writer then holds it and slows
requests down instead (nothing is dropped). A record the database *refuses*
(not an outage) is set aside under ``rejected/`` for an operator to inspect,
so it cannot block the records behind it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import itertools
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from app.audit_record import AuditRecord

logger = logging.getLogger(__name__)

SUFFIX: Final = ".jsonl"
REJECTED_DIR: Final = "rejected"
_BYTES_FIELDS: Final = ("request_body",)


class SpoolCorrupt(Exception):
    """A spool line that cannot be read back as a record."""


def encode(record: AuditRecord) -> str:
    """One spool line: the record with every byte field in base64 (lossless)."""
    line: dict[str, Any] = dict(record)
    body = record["request_body"]
    line["request_body"] = None if body is None else base64.b64encode(body).decode("ascii")
    line["request_headers"] = [
        [base64.b64encode(n).decode("ascii"), base64.b64encode(v).decode("ascii")]
        for n, v in record["request_headers"]
    ]
    return json.dumps(line, separators=(",", ":"))


def decode(line: str) -> AuditRecord:
    """The record a spool line holds. Raises SpoolCorrupt."""
    try:
        raw = json.loads(line)
        body = raw["request_body"]
        raw["request_body"] = None if body is None else base64.b64decode(body, validate=True)
        raw["request_headers"] = [
            (base64.b64decode(n, validate=True), base64.b64decode(v, validate=True))
            for n, v in raw["request_headers"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise SpoolCorrupt("unreadable spool line") from exc
    record: AuditRecord = raw
    return record


@dataclass(frozen=True, slots=True)
class Claimed:
    """A spool file this process holds the lock on, and the records in it."""

    path: Path
    records: list[AuditRecord]
    corrupt_lines: int


class AuditSpool:
    """The on-disk queue of audit batches waiting for the database."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self._dir = directory
        self._max_bytes = max_bytes
        self._seq = itertools.count()

    @property
    def directory(self) -> Path:
        """Where the spool files live."""
        return self._dir

    def open(self) -> None:
        """Create the spool directories. Raises OSError."""
        (self._dir / REJECTED_DIR).mkdir(parents=True, exist_ok=True)

    def size_bytes(self) -> int:
        """Bytes on disk now, pending and rejected together (the bound covers both)."""
        total = 0
        for folder in (self._dir, self._dir / REJECTED_DIR):
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(folder):
                    if entry.name.endswith(SUFFIX) and entry.is_file():
                        with contextlib.suppress(FileNotFoundError):
                            total += entry.stat().st_size
        return total

    def pending(self) -> list[Path]:
        """Spooled batch files, oldest first."""
        with contextlib.suppress(FileNotFoundError):
            return sorted(p for p in self._dir.iterdir() if p.name.endswith(SUFFIX) and p.is_file())
        return []

    def put(self, records: list[AuditRecord], *, force: bool = False) -> bool:
        """Write one batch durably. False (nothing written) when it would exceed the bound.

        ``force`` ignores the bound; the writer uses it only at shutdown, when the
        alternative is losing what is still in memory. Raises OSError.
        """
        data = "".join(encode(r) + "\n" for r in records).encode("utf-8")
        if not force and self.size_bytes() + len(data) > self._max_bytes:
            return False
        self._write_atomically(self._dir, data)
        return True

    def reject(self, record: AuditRecord) -> None:
        """Set aside one record the database refused (always written: it is small). Raises OSError."""
        self._write_atomically(self._dir / REJECTED_DIR, (encode(record) + "\n").encode("utf-8"))

    def _write_atomically(self, folder: Path, data: bytes) -> None:
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):06d}{SUFFIX}"
        tmp = folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, folder / name)
        with contextlib.suppress(OSError):
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    @contextlib.contextmanager
    def claim(self, path: Path) -> Iterator[Claimed | None]:
        """Lock one spool file and read it; ``None`` when another worker has it or it is gone.

        The caller removes the file with :meth:`done` while still inside the block.
        """
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            yield None
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            # NOTE: the file may have been drained and unlinked between our open and our lock;
            # only the inode the name still points at is ours to write.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                yield None
                return
            with os.fdopen(os.dup(fd), encoding="utf-8") as handle:
                lines = handle.read().splitlines()
            records, corrupt = [], 0
            for line in lines:
                try:
                    records.append(decode(line))
                except SpoolCorrupt:
                    corrupt += 1
            yield Claimed(path=path, records=records, corrupt_lines=corrupt)
        finally:
            os.close(fd)

    def done(self, claimed: Claimed) -> None:
        """Remove a claimed file whose records are now in the database. Raises OSError."""
        if claimed.corrupt_lines:
            # Keep what could not be read, for an operator, out of the drain path.
            os.replace(claimed.path, self._dir / REJECTED_DIR / claimed.path.name)
            return
        claimed.path.unlink()
