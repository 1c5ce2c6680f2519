"""The audit log at scale: its reads stay fast, and the query plans show why.

A database of its own gets TAP's schema (``tap init``) and
:data:`AUDIT_ROWS` audit rows spread over 1,000 agents, 50 credentials and
two teams, a row a second back from now. The rows are written with
``generate_series`` with the table's indexes dropped and then rebuilt from
their own definitions (``pg_indexes``), the fast way to build a large table.

Then each read the API makes is run with ``EXPLAIN (ANALYZE, BUFFERS)``: the
SQL is not copied here but captured from the store functions themselves
(:func:`app.store.audit.for_agent` behind ``GET /agent/logs``,
:func:`app.store.audit.page` behind the team's audit page) through a
recording connection, so the plans are those of the code that ships. Each is
explained twice: with the plan Postgres makes for those values (what the
first executions of a prepared statement get) and with the generic plan
(``plan_cache_mode = force_generic_plan``, what a statement may switch to
after five runs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import asyncpg

from app.store import audit
from tools.bench import seed

if TYPE_CHECKING:
    from tools.bench.run import Bench

AUDIT_ROWS: Final = 10_000_000
QUICK_AUDIT_ROWS: Final = 200_000
BATCH_ROWS: Final = 1_000_000
AGENTS: Final = 1000
_FILL: Final = """
INSERT INTO audit_log (record_id, request_id, team_id, agent_id, credential_names, target_url,
    method, outcome, upstream_status, total_latency_ms, upstream_latency_ms, response_sanitized,
    timestamp)
SELECT gen_random_uuid(), gen_random_uuid(),
    CASE WHEN i % 10 = 0 THEN 'other-team' ELSE 'default' END,
    'seed-' || lpad((i % 1000)::text, 5, '0'),
    ARRAY['cred-' || (i % 50)::text],
    'https://api.example.com/v1/items/' || i::text,
    CASE WHEN i % 5 = 0 THEN 'POST' ELSE 'GET' END,
    CASE WHEN i % 20 = 3 THEN 'refused' ELSE 'forwarded' END,
    200, (i % 50), (i % 40), false,
    $3::timestamptz - make_interval(secs => i)
FROM generate_series($1::bigint, $2::bigint) AS i
"""


class _Recorder:
    """A stand-in connection that records the one query a store function runs."""

    def __init__(self) -> None:
        self.sql = ""
        self.args: tuple[Any, ...] = ()

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.sql, self.args = sql, args
        return []


async def _captured(call: Callable[[Any], Awaitable[Any]]) -> tuple[str, tuple[Any, ...]]:
    recorder = _Recorder()
    await call(recorder)
    return recorder.sql, recorder.args


def _queries(middle: audit.Cursor) -> dict[str, Callable[[Any], Awaitable[Any]]]:
    def page(**filters: Any) -> Callable[[Any], Awaitable[Any]]:
        options: dict[str, Any] = {
            "agent_id": None,
            "credential": None,
            "outcome": None,
            "before": None,
            "limit": 50,
        }
        options.update(filters)
        return lambda conn: audit.page(conn, "default", **options)

    return {
        "GET /agent/logs (50 newest of one agent)": lambda conn: audit.for_agent(
            conn, "default", "seed-00007", 50
        ),
        "audit page: first 50": page(),
        "audit page: one agent": page(agent_id="seed-00007"),
        "audit page: outcome refused (5% of rows)": page(outcome="refused"),
        "audit page: an outcome no row has": page(outcome="error"),
        "audit page: one credential": page(credential="cred-7"),
        "audit page: a credential no row has": page(credential="cred-unknown"),
        "audit page: one agent, outcome refused": page(agent_id="seed-00007", outcome="refused"),
        "audit page: halfway back (cursor)": page(before=middle),
    }


def _walk(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _walk(child)
    return nodes


def _summary(explained: Any) -> dict[str, Any]:
    document = json.loads(explained) if isinstance(explained, str) else explained
    top = document[0]
    nodes = _walk(top["Plan"])
    scans = [
        f"{n['Node Type']} using {n['Index Name']}" if "Index Name" in n else n["Node Type"]
        for n in nodes
        if "Scan" in n["Node Type"]
    ]
    return {
        "execution_ms": round(top.get("Execution Time", 0.0), 3),
        "scans": scans,
        "seq_scan": any(n["Node Type"] == "Seq Scan" for n in nodes),
        "shared_blocks": sum(
            n.get("Shared Hit Blocks", 0) + n.get("Shared Read Blocks", 0) for n in nodes[:1]
        ),
    }


async def _build(url: str, rows: int) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_log'"
            " AND indexname NOT LIKE '%_pkey'"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        started = time.perf_counter()
        now = dt.datetime.now(dt.UTC)
        for first in range(1, rows + 1, BATCH_ROWS):
            await conn.execute(_FILL, first, min(first + BATCH_ROWS - 1, rows), now)
        filled = time.perf_counter() - started
        for index in indexes:
            await conn.execute(index["indexdef"])
        # What app.store.audit.append writes beside each record (migration 0015).
        await conn.execute(
            "INSERT INTO audit_log_credentials (id, team_id, credential, timestamp)"
            " SELECT a.id, a.team_id, c.credential, a.timestamp"
            " FROM audit_log a, unnest(a.credential_names) AS c(credential)"
        )
        await conn.execute("VACUUM (ANALYZE) audit_log")
        await conn.execute("VACUUM (ANALYZE) audit_log_credentials")
        size = await conn.fetchval(
            "SELECT pg_total_relation_size('audit_log')"
            " + pg_total_relation_size('audit_log_credentials')"
        )
    finally:
        await conn.close()
    return {
        "rows": rows,
        "fill_secs": round(filled, 1),
        "build_secs": round(time.perf_counter() - started, 1),
        "table_bytes": int(size),
        "indexes": [i["indexname"] for i in indexes],
    }


async def _explain(url: str, rows: int) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        middle_ts = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=rows // 2)
        middle_id = await conn.fetchval(
            "SELECT id FROM audit_log WHERE team_id = 'default' AND timestamp <= $1"
            " ORDER BY timestamp DESC, id DESC LIMIT 1",
            middle_ts,
        )
        row = await conn.fetchrow("SELECT timestamp FROM audit_log WHERE id = $1", middle_id)
        middle = audit.Cursor(row["timestamp"], middle_id) if row else audit.Cursor(middle_ts, 0)
        plans: dict[str, Any] = {}
        for name, call in _queries(middle).items():
            sql, args = await _captured(call)
            entry: dict[str, Any] = {}
            for mode in ("custom", "generic"):
                await conn.execute(
                    f"SET plan_cache_mode = {'force_generic_plan' if mode == 'generic' else 'auto'}"
                )
                explained = await conn.fetchval(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args
                )
                entry[mode] = _summary(explained)
            plans[name] = entry
        return plans
    finally:
        await conn.close()


def run(bench: Bench, *, quick: bool) -> None:
    """The benchmark phase: build the table, explain the reads, store under ``audit_scale``."""
    rows = QUICK_AUDIT_ROWS if quick else AUDIT_ROWS
    url = asyncio.run(seed.create_database(bench.database_url, "bench_audit"))
    bench.tap_cli(["init"], database_url=url)
    result = asyncio.run(_build(url, rows))
    result["plans"] = asyncio.run(_explain(url, rows))
    bench.results["audit_scale"] = result


def markdown(results: dict[str, Any]) -> list[str]:
    """The report's section (empty when the phase did not run)."""
    scale = results.get("audit_scale")
    if not scale:
        return []
    lines = [
        f"## Audit log at {scale['rows']:,} rows",
        "",
        "| read | ms (plan for the values) | ms (generic plan) | scans (plan for the values) "
        "| sequential scan |",
        "|---|---|---|---|---|",
    ]
    for name, entry in scale["plans"].items():
        custom, generic = entry["custom"], entry["generic"]
        seq = "yes" if custom["seq_scan"] or generic["seq_scan"] else "no"
        lines.append(
            f"| {name} | {custom['execution_ms']:.2f} | {generic['execution_ms']:.2f} "
            f"| {'; '.join(dict.fromkeys(custom['scans']))} | {seq} |"
        )
    lines += [
        "",
        f"Built in {scale['build_secs']:g} s ({scale['fill_secs']:g} s writing rows, the rest "
        f"rebuilding {len(scale['indexes'])} indexes, filling `audit_log_credentials` and "
        "`VACUUM ANALYZE`), "
        f"{scale['table_bytes'] / 2**30:.2f} GiB with indexes; 1,000 agents, 50 credentials, "
        "90% of rows in the team read. Each query is the store's own SQL "
        "(`tools/bench/audit_scale.py` captures it), run under `EXPLAIN (ANALYZE, BUFFERS)`.",
        "",
    ]
    return lines


def target(results: dict[str, Any]) -> tuple[str, str, bool | None]:
    """``(name, measured, met)``: every audit read uses an index and none scans the table."""
    scale = results.get("audit_scale")
    if not scale:
        return ("Audit reads at 10M rows use indexes (no sequential scan)", "n/a", None)
    plans = scale["plans"].values()
    seq = sum(1 for e in plans if e["custom"]["seq_scan"] or e["generic"]["seq_scan"])
    slowest = max(max(e["custom"]["execution_ms"], e["generic"]["execution_ms"]) for e in plans)
    return (
        f"Audit reads at {scale['rows']:,} rows use indexes (no sequential scan)",
        f"{seq} of {len(scale['plans'])} reads scan the table; slowest {slowest:.1f} ms",
        seq == 0,
    )
