"""Decision-to-upstream: how long after an approval commits does the upstream see the request?

For each sample: ``POST /forward`` a request the default gated policy parks
(answer 202 with a ``txn_id``), approve it the way ``tap approve`` does
(:func:`app.approvals.decisions.vote` by the operator, in a transaction), note
the wall-clock time right after the commit, and read the time nginx logged
when the forwarded request arrived (``$msec``, millisecond resolution).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import asyncpg
import httpx

from app.approvals import decisions
from app.store import teams
from tools.bench import nginx
from tools.bench.loadgen import percentile

ARRIVAL_TIMEOUT_SECS: Final = 5.0
_POLL_SECS: Final = 0.002


@dataclass(frozen=True, slots=True)
class ApprovalPath:
    samples: int
    missing: int
    """Approved requests the upstream did not see within the timeout."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    raw_ms: list[float]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def _park(client: httpx.AsyncClient, url: str, headers: Mapping[str, str]) -> uuid.UUID:
    response = await client.post(url, headers=dict(headers))
    if response.status_code != 202:
        raise RuntimeError(f"expected 202 for a gated POST, got {response.status_code}")
    return uuid.UUID(response.json()["txn_id"])


async def _approve(database_url: str, txn_id: uuid.UUID) -> float:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await decisions.vote(
                conn,
                team_id=teams.DEFAULT_TEAM_ID,
                txn_id=txn_id,
                voter="operator",
                decision="approve",
                via="cli",
            )
        return time.time()
    finally:
        await conn.close()


async def _arrival(stamp_dir: Path, index: int) -> float | None:
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_SECS
    while time.monotonic() < deadline:
        stamp = nginx.approval_stamps(stamp_dir).get(index)
        if stamp is not None:
            return stamp
        await asyncio.sleep(_POLL_SECS)
    return None


async def measure(
    *,
    tap_url: str,
    database_url: str,
    headers: Mapping[str, str],
    upstream_port: int,
    stamp_dir: Path,
    samples: int,
    first_index: int = 1,
) -> ApprovalPath:
    """Run ``samples`` approvals one after another. Raises RuntimeError if TAP does not park them."""
    latencies: list[float] = []
    missing = 0
    async with httpx.AsyncClient(timeout=10) as client:
        for index in range(first_index, first_index + samples):
            target = f"http://127.0.0.1:{upstream_port}/approval?i={index}"
            txn_id = await _park(
                client,
                f"{tap_url}/forward",
                {**headers, "X-TAP-Method": "POST", "X-TAP-Target": target},
            )
            await asyncio.sleep(0.05)  # let the 202 settle; each sample starts idle
            decided = await _approve(database_url, txn_id)
            arrived = await _arrival(stamp_dir, index)
            if arrived is None:
                missing += 1
            else:
                latencies.append(max(0.0, (arrived - decided) * 1000))
    ordered = sorted(latencies)
    return ApprovalPath(
        samples=samples,
        missing=missing,
        p50_ms=percentile(ordered, 50),
        p90_ms=percentile(ordered, 90),
        p99_ms=percentile(ordered, 99),
        max_ms=ordered[-1] if ordered else float("nan"),
        raw_ms=[round(x, 2) for x in latencies],
    )
