"""What the audit hash chain costs per record, against what TAP spends per request.

The audit writer appends records in batches, off the request path; the chain
adds, per batch and team, a lock on the chain head, a look-up of the batch's
record ids and a head update, and per record a SHA-256 over its canonical
form (plus, every N records, one Ed25519 signature). This phase times
:func:`app.store.audit.append` (the real chained write) against the write the
audit did before the chain (the same rows, one ``executemany`` into a copy of
``audit_log``), in interleaved rounds of batches on one connection. The extra
wall time per record, an upper bound of the CPU it costs the worker and
Postgres together, is then set against TAP's CPU time per request from the
same ``make bench`` run (worker plus Postgres at 200 req/s): that share is
the throughput the chain costs.

Run alone (``python -m tools.bench.audit_chain [--cpu-ms-per-request X]``) it
starts its own embedded Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Final

import asyncpg

from app.audit_chain import CheckpointPolicy, link_hash, normalized
from app.audit_record import AuditRecord
from app.crypto import KeyRing
from app.store import audit as audit_store
from app.store import db
from app.store.migrate import migrate

BATCH: Final = 50
"""About what one worker's writer collects in its 50 ms linger at TAP's saturation."""
BATCHES_PER_ROUND: Final = 20
ROUNDS: Final = 5
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


async def measure(database_url: str) -> dict[str, Any]:
    """Microseconds per record: chained append, the write before the chain, and hashing alone."""
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

    try:
        # A logged table with the indexes audit_log had before the chain.
        for statement in _PLAIN_TABLE:
            await plain_conn.execute(statement)
        insert = (
            f"INSERT INTO audit_plain ({', '.join(_COLUMNS)}) "  # noqa: S608 - constant names
            f"VALUES ({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))}) "
            "ON CONFLICT (record_id) DO NOTHING"
        )
        chained: list[float] = []
        plain: list[float] = []
        for _ in range(ROUNDS + 1):  # the first round warms both paths and is dropped
            records = [batch() for _ in range(BATCHES_PER_ROUND)]
            started = time.perf_counter()
            for records_ in records:
                await audit_store.append(pool, records_, policy, fresh=True)
            chained.append((time.perf_counter() - started) / (BATCH * BATCHES_PER_ROUND))
            records = [batch() for _ in range(BATCHES_PER_ROUND)]
            started = time.perf_counter()
            for records_ in records:
                # The write before the chain: normalize, one atomic executemany per batch.
                rows = [_plain_row(r) for r in records_]
                async with plain_conn.transaction():
                    await plain_conn.executemany(insert, rows)
            plain.append((time.perf_counter() - started) / (BATCH * BATCHES_PER_ROUND))
        alone = batch()
        started = time.perf_counter()
        prev = bytes(32)
        for seq, record in enumerate(alone, 1):
            prev = link_hash(prev, seq, normalized(record))
        hashing = (time.perf_counter() - started) / BATCH
    finally:
        await plain_conn.execute("DROP TABLE IF EXISTS audit_plain")
        await plain_conn.close()
        await pool.close()
    chained_us = statistics.median(chained[1:]) * 1e6
    plain_us = statistics.median(plain[1:]) * 1e6
    return {
        "batch": BATCH,
        "records": BATCH * BATCHES_PER_ROUND * ROUNDS,
        "chained_us_per_record": round(chained_us, 1),
        "plain_us_per_record": round(plain_us, 1),
        "extra_us_per_record": round(chained_us - plain_us, 1),
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
