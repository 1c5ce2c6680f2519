"""What the audit hash chain costs per record, against what TAP spends per request.

The audit writer appends records in batches, off the request path; the chain
adds, per batch and team, a lock on the chain head, a look-up of the batch's
record ids and a head update, and per record a SHA-256 over its canonical
form (plus, every N records, one Ed25519 signature). This phase times
:func:`app.store.audit.append` (the real chained write) against the write the
audit did before the chain (the same rows, one ``executemany`` into a copy of
``audit_log``), in interleaved rounds of batches on one connection each. The
extra CPU time per record, of this process and of the Postgres backend
together, is then set against TAP's CPU time per request from the same
``make bench`` run (worker plus Postgres at 200 req/s): that share is the
throughput the chain costs. Wall times are reported beside it.

Run alone (``python -m tools.bench.audit_chain [--cpu-ms-per-request X]``) it
starts its own embedded Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import asyncpg

from app.audit_chain import CheckpointPolicy, link_hash, normalized
from app.audit_record import AuditRecord
from app.crypto import KeyRing
from app.store import audit as audit_store
from app.store import db
from app.store.migrate import migrate
from tools.bench.processes import TreeCpu

BATCH: Final = 50
"""About what one worker's writer collects in its 50 ms linger at TAP's saturation."""
BATCHES_PER_ROUND: Final = 20
ROUNDS: Final = 6
CHECKPOINT_EVERY: Final = 1000
_COLUMNS: Final = ("record_id", *audit_store.COLUMNS)
_PLAIN_TABLE: Final = (
    "CREATE TABLE audit_plain (LIKE audit_log INCLUDING DEFAULTS)",
    "ALTER TABLE audit_plain ADD PRIMARY KEY (id)",
    "CREATE UNIQUE INDEX ON audit_plain (record_id)",
    "CREATE INDEX ON audit_plain (team_id, agent_id, timestamp DESC)",
    "CREATE INDEX ON audit_plain (team_id, timestamp DESC)",
)


def _record(i: int) -> AuditRecord:
    """A typical forwarded GET, as the pipeline queues it."""
    record: AuditRecord = {
        "record_id": str(uuid.uuid4()),
        "request_id": str(uuid.uuid4()),
        "team_id": "bench-audit",
        "agent_id": "bench",
        "credential_names": ["bench"],
        "target_url": f"http://127.0.0.1:8080/json?i={i}",
        "method": "GET",
        "outcome": "forwarded",
        "approval_status": None,
        "upstream_status": 200,
        "total_latency_ms": 3,
        "approval_latency_ms": None,
        "upstream_latency_ms": 1,
        "response_sanitized": True,
        "request_headers": [(b"accept", b"*/*"), (b"user-agent", b"wrk")],
        "request_body": None,
        "request_body_truncated": False,
        "policy_reason": "default:read",
        "require_passkey": False,
        "approver_identity": None,
        "error": None,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "response_unscannable": None,
        "response_unscannable_allowed": False,
        "approval_evidence_sha256": None,
    }
    return record


def _plain_row(record: AuditRecord) -> tuple[Any, ...]:
    stored = normalized(record)
    values: list[Any] = []
    for column in _COLUMNS:
        value: Any = stored.get(column)
        if column in ("record_id", "request_id"):
            value = uuid.UUID(value)
        elif column == "request_headers":
            value = [[n, v] for n, v in value]
        elif column == "timestamp":
            value = dt.datetime.fromisoformat(value)
        values.append(value)
    return tuple(values)


@dataclass
class _Spent:
    """Wall and CPU time (this process plus one Postgres backend) over the records written."""

    wall: float = 0.0
    cpu: float = 0.0
    records: int = 0

    def us_per_record(self, what: str) -> float:
        return round((self.wall if what == "wall" else self.cpu) / self.records * 1e6, 1)


@contextlib.contextmanager
def _timed(spent: _Spent, backend: int, records: int) -> Iterator[None]:
    started, cpu = time.perf_counter(), time.process_time()
    with TreeCpu([backend]) as server:
        yield
    spent.wall += time.perf_counter() - started
    spent.cpu += time.process_time() - cpu + server.seconds
    spent.records += records


async def measure(database_url: str) -> dict[str, Any]:
    """Per record: the chained append, the write before the chain, and hashing alone.

    CPU time (this process plus the Postgres backend it talks to) is what the
    share is computed from: unlike wall time, it hardly moves when other work
    shares the cores.
    """
    policy = CheckpointPolicy(
        KeyRing.from_master_key(secrets.token_bytes(32)).audit_signer(), CHECKPOINT_EVERY, 3600
    )
    pool = await db.create_pool(database_url, min_size=1, max_size=1)
    plain_conn = await asyncpg.connect(database_url)
    counter = 0

    def batch() -> list[AuditRecord]:
        nonlocal counter
        counter += BATCH
        return [_record(counter + i) for i in range(BATCH)]

    chained, plain = _Spent(), _Spent()
    try:
        async with pool.acquire() as conn:
            chained_backend = conn.get_server_pid()
        plain_backend = plain_conn.get_server_pid()
        # A logged table with the indexes audit_log had before the chain.
        for statement in _PLAIN_TABLE:
            await plain_conn.execute(statement)
        insert = (
            f"INSERT INTO audit_plain ({', '.join(_COLUMNS)}) "  # noqa: S608 - constant names
            f"VALUES ({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))}) "
            "ON CONFLICT (record_id) DO NOTHING"
        )
        for round_ in range(ROUNDS + 1):  # the first round warms both paths and is not counted
            counted = round_ > 0
            records = [batch() for _ in range(BATCHES_PER_ROUND)]
            with _timed(chained if counted else _Spent(), chained_backend, BATCH * len(records)):
                for records_ in records:
                    await audit_store.append(pool, records_, policy, fresh=True)
            records = [batch() for _ in range(BATCHES_PER_ROUND)]
            with _timed(plain if counted else _Spent(), plain_backend, BATCH * len(records)):
                for records_ in records:
                    # The write before the chain: normalize, one atomic executemany per batch.
                    rows = [_plain_row(r) for r in records_]
                    async with plain_conn.transaction():
                        await plain_conn.executemany(insert, rows)
        alone = batch()
        started = time.process_time()
        prev = bytes(32)
        for seq, record in enumerate(alone, 1):
            prev = link_hash(prev, seq, normalized(record))
        hashing = (time.process_time() - started) / BATCH
    finally:
        await plain_conn.execute("DROP TABLE IF EXISTS audit_plain")
        await plain_conn.close()
        await pool.close()
    chained_cpu, plain_cpu = chained.us_per_record("cpu"), plain.us_per_record("cpu")
    return {
        "batch": BATCH,
        "records": chained.records,
        "chained_us_per_record": chained_cpu,
        "plain_us_per_record": plain_cpu,
        "extra_us_per_record": round(chained_cpu - plain_cpu, 1),
        "chained_wall_us_per_record": chained.us_per_record("wall"),
        "plain_wall_us_per_record": plain.us_per_record("wall"),
        "hash_us_per_record": round(hashing * 1e6, 1),
    }


def share_pct(result: dict[str, Any], cpu_ms_per_request: float | None) -> float | None:
    """The chain's extra time per record as a share of TAP's CPU time per request."""
    if not cpu_ms_per_request:
        return None
    extra = max(float(result["extra_us_per_record"]), 0.0)
    return round(extra / (cpu_ms_per_request * 1000) * 100, 2)


async def _standalone(cpu_ms: float | None) -> None:
    with tempfile.TemporaryDirectory(prefix="tap-bench-audit-") as tmp:
        embedded = db.start_embedded(Path(tmp))
        try:
            conn = await asyncpg.connect(embedded.url)
            try:
                await migrate(conn)
            finally:
                await conn.close()
            result = await measure(embedded.url)
        finally:
            embedded.stop()
    for key, value in result.items():
        print(f"{key}: {value}")
    share = share_pct(result, cpu_ms)
    if share is not None:
        print(f"share of TAP's {cpu_ms} ms CPU per request: {share}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cpu-ms-per-request",
        type=float,
        help="TAP's CPU time per request (worker plus Postgres) from a make bench run",
    )
    asyncio.run(_standalone(parser.parse_args().cpu_ms_per_request))


if __name__ == "__main__":
    main()
