"""The bench at scale: many pending approvals being polled, and many agents at once.

Two phases, each on its own ``tap-proxy`` (2 workers) over the bench's Postgres:

* **Pending approvals polled**: agents park :data:`PENDING` gated writes (the
  default policy asks a human before a ``POST``), then each parked request is
  polled (``GET /agent/approvals/<txn>``) every :data:`POLL_EVERY_SECS`, at
  evenly spread phases, for the phase's duration. Reported: poll latency, the
  answers that were not ``pending``, and the CPU time of TAP's processes and of
  Postgres per poll.
* **Mixed agents**: :data:`MIXED_AGENTS` agents each send
  :data:`MIXED_RATE_PER_AGENT` requests a second for the phase's duration,
  open loop (a request is sent on its tick whether or not the last one was
  answered, so a slow answer cannot hide later ones): reads (an auto-approved
  ``GET``, forwarded to the nginx upstream) and gated writes (a ``POST``,
  parked: 202). An error is any other status, or no answer.

Each phase has a database of its own on the bench's Postgres, its agents and
credentials seeded with SQL (:mod:`tools.bench.seed`); the
pending caps are raised for these instances (``TAP_MAX_PENDING_PER_AGENT``,
``TAP_MAX_PENDING_PER_TEAM``) because the writes stay parked.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from tools.bench import loadgen, seed
from tools.bench.processes import TreeCpu

if TYPE_CHECKING:
    from tools.bench.run import Bench

PENDING: Final = 1000
POLL_EVERY_SECS: Final = 2.0
POLL_SECS: Final = 60.0
MIXED_AGENTS: Final = 100
MIXED_RATE_PER_AGENT: Final = 10.0
MIXED_SECS: Final = 60.0
WRITE_EVERY: Final = 5
"""One request in this many is a gated write; the rest are reads."""
QUICK_SECS: Final = 10.0
_TIMEOUT: Final = aiohttp.ClientTimeout(total=30)
_CAPS: Final = {"TAP_MAX_PENDING_PER_AGENT": "100000", "TAP_MAX_PENDING_PER_TEAM": "10000000"}


@dataclass
class _Tally:
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    unexpected: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, started: float, ok: bool, why: str = "") -> None:
        self.latencies_ms.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        if not ok:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            cause = f"{kind} {why}".strip()
            self.unexpected[cause] = self.unexpected.get(cause, 0) + 1

    def summary(self, kind: str) -> dict[str, Any]:
        values = sorted(self.latencies_ms.get(kind, []))
        return {
            "requests": len(values),
            "errors": self.errors.get(kind, 0),
            "p50_ms": round(loadgen.percentile(values, 50), 3) if values else None,
            "p90_ms": round(loadgen.percentile(values, 90), 3) if values else None,
            "p99_ms": round(loadgen.percentile(values, 99), 3) if values else None,
            "max_ms": round(values[-1], 3) if values else None,
        }


def _headers(key: str, credential: str, target: str, method: str) -> dict[str, str]:
    return {
        "X-TAP-Key": key,
        "X-TAP-Credential": credential,
        "X-TAP-Target": target,
        "X-TAP-Method": method,
    }


async def _park(
    session: aiohttp.ClientSession, url: str, key: str, credential: str, target: str
) -> str:
    async with session.post(
        url + "/forward", headers=_headers(key, credential, target, "POST"), data=b"{}"
    ) as response:
        body = await response.json()
        if response.status != 202:
            raise RuntimeError(f"parking answered {response.status}: {str(body)[:200]}")
        return str(body["poll_url"])


async def _poll_all(url: str, polls: list[tuple[str, str]], *, every: float, secs: float) -> _Tally:
    tally = _Tally()
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(timeout=_TIMEOUT, connector=connector) as session:

        async def one(key: str, path: str) -> None:
            started = time.perf_counter()
            why = ""
            try:
                async with session.get(url + path, headers={"X-TAP-Key": key}) as response:
                    body = await response.json()
                ok = response.status == 200 and body.get("status") == "pending"
                why = str(response.status)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                ok, why = False, type(exc).__name__
            tally.add("poll", started, ok, why)

        async def poller(index: int, key: str, path: str) -> None:
            # Evenly spread phases: the polls arrive as a steady rate, not in bursts.
            begin = loop_start + every * index / len(polls)
            tasks = []
            tick = begin
            while tick < loop_start + secs:
                await asyncio.sleep(max(0.0, tick - time.perf_counter()))
                tasks.append(asyncio.create_task(one(key, path)))
                tick += every
            await asyncio.gather(*tasks)

        loop_start = time.perf_counter()
        await asyncio.gather(*(poller(i, k, p) for i, (k, p) in enumerate(polls)))
    return tally


async def _mixed(
    url: str, agents: list[tuple[str, str]], target: str, *, rate: float, secs: float
) -> _Tally:
    tally = _Tally()
    connector = aiohttp.TCPConnector(limit=400)
    async with aiohttp.ClientSession(timeout=_TIMEOUT, connector=connector) as session:

        async def one(key: str, credential: str, write: bool) -> None:
            kind = "write" if write else "read"
            method = "POST" if write else "GET"
            started = time.perf_counter()
            why = ""
            try:
                async with session.post(
                    url + "/forward",
                    headers=_headers(key, credential, target, method),
                    data=b"{}" if write else None,
                ) as response:
                    await response.read()
                ok = response.status == (202 if write else 200)
                why = str(response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                ok, why = False, type(exc).__name__
            tally.add(kind, started, ok, why)

        async def agent(index: int, key: str, credential: str) -> None:
            every = 1 / rate
            tick = loop_start + every * index / len(agents)
            tasks = []
            count = 0
            while tick < loop_start + secs:
                await asyncio.sleep(max(0.0, tick - time.perf_counter()))
                tasks.append(asyncio.create_task(one(key, credential, count % WRITE_EVERY == 0)))
                count += 1
                tick += every
            await asyncio.gather(*tasks)

        loop_start = time.perf_counter()
        await asyncio.gather(*(agent(i, k, c) for i, (k, c) in enumerate(agents)))
    return tally


def _own_database(bench: Bench, name: str) -> str:
    """A database of the phase's own on the bench's Postgres, with TAP's schema.

    The other phases' agent counts stay as they are (the scale phase compares 10 and 10,000).
    """
    url = asyncio.run(seed.create_database(bench.database_url, name))
    bench.create_bench_agent(url)  # the schema and the team the seeded rows belong to
    return url


def _cpu_per(cpu_secs: float, count: int) -> float | None:
    return round(1000 * cpu_secs / count, 3) if count else None


def pending_polls(bench: Bench, *, quick: bool) -> None:
    """Phase: :data:`PENDING` parked requests, each polled every :data:`POLL_EVERY_SECS`."""
    secs = QUICK_SECS if quick else POLL_SECS
    agents = 20
    database_url = _own_database(bench, "bench_pending")
    keys = asyncio.run(
        seed.seed(database_url, bench.master_key, first=1, count=agents, allowed_host="127.0.0.1")
    )
    names = [f"{seed.SEED_PREFIX}{i:05d}" for i in range(1, 1 + agents)]
    service, target = bench.start_tap("tap-pending", database_url=database_url, extra_env=_CAPS)
    url = target.url.removesuffix("/forward")
    upstream = f"http://127.0.0.1:{bench.upstream_port}/json"
    try:

        async def park_all() -> list[tuple[str, str]]:
            async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
                polls = []
                for n in range(PENDING):
                    key, name = keys[n % agents], names[n % agents]
                    polls.append((key, await _park(session, url, key, name, upstream)))
                return polls

        polls = asyncio.run(park_all())
        pg_pid = bench.postgres_pid()
        with TreeCpu(target.roots) as tap_cpu, TreeCpu([pg_pid] if pg_pid else []) as pg_cpu:
            tally = asyncio.run(_poll_all(url, polls, every=POLL_EVERY_SECS, secs=secs))
        summary = tally.summary("poll")
        bench.results["pending_polls"] = {
            "error_causes": tally.unexpected,
            "pending": PENDING,
            "poll_every_secs": POLL_EVERY_SECS,
            "secs": secs,
            **summary,
            "polls_per_sec": round(summary["requests"] / secs, 1),
            "tap_cpu_ms_per_poll": _cpu_per(tap_cpu.seconds, summary["requests"]),
            "postgres_cpu_ms_per_poll": _cpu_per(pg_cpu.seconds, summary["requests"]),
            "tap_cpu_pct": round(100 * tap_cpu.seconds / secs, 1),
            "postgres_cpu_pct": round(100 * pg_cpu.seconds / secs, 1),
        }
    finally:
        bench.stop(service)


def mixed_agents(bench: Bench, *, quick: bool) -> None:
    """Phase: :data:`MIXED_AGENTS` agents at :data:`MIXED_RATE_PER_AGENT` req/s each."""
    secs = QUICK_SECS if quick else MIXED_SECS
    database_url = _own_database(bench, "bench_mixed")
    keys = asyncio.run(
        seed.seed(
            database_url, bench.master_key, first=1, count=MIXED_AGENTS, allowed_host="127.0.0.1"
        )
    )
    names = [f"{seed.SEED_PREFIX}{i:05d}" for i in range(1, 1 + MIXED_AGENTS)]
    service, target = bench.start_tap("tap-mixed", database_url=database_url, extra_env=_CAPS)
    url = target.url.removesuffix("/forward")
    upstream = f"http://127.0.0.1:{bench.upstream_port}/json"
    try:
        pg_pid = bench.postgres_pid()
        with TreeCpu(target.roots) as tap_cpu, TreeCpu([pg_pid] if pg_pid else []) as pg_cpu:
            tally = asyncio.run(
                _mixed(
                    url,
                    list(zip(keys, names, strict=True)),
                    upstream,
                    rate=MIXED_RATE_PER_AGENT,
                    secs=secs,
                )
            )
        reads, writes = tally.summary("read"), tally.summary("write")
        total = reads["requests"] + writes["requests"]
        bench.results["mixed_agents"] = {
            "error_causes": tally.unexpected,
            "agents": MIXED_AGENTS,
            "rate_per_agent": MIXED_RATE_PER_AGENT,
            "write_every": WRITE_EVERY,
            "secs": secs,
            "read": reads,
            "write": writes,
            "offered_rps": round(total / secs, 1),
            "tap_cpu_ms_per_request": _cpu_per(tap_cpu.seconds, total),
            "postgres_cpu_ms_per_request": _cpu_per(pg_cpu.seconds, total),
        }
    finally:
        bench.stop(service)


def markdown(results: dict[str, Any]) -> list[str]:
    """The report's sections for both phases (what ran)."""
    lines: list[str] = []
    polls = results.get("pending_polls")
    if polls:
        lines += [
            "## Pending approvals, polled",
            "",
            "| pending | poll every | polls/s | p50 / p90 / p99 ms | errors | TAP CPU ms/poll "
            "| Postgres CPU ms/poll | TAP / Postgres CPU % of one core |",
            "|---|---|---|---|---|---|---|---|",
            f"| {polls['pending']:,} | {polls['poll_every_secs']:g} s | {polls['polls_per_sec']} "
            f"| {_lat(polls)} | {polls['errors']} | {_v(polls['tap_cpu_ms_per_poll'])} "
            f"| {_v(polls['postgres_cpu_ms_per_poll'])} "
            f"| {polls['tap_cpu_pct']} / {polls['postgres_cpu_pct']} |",
            "",
            f"{polls['pending']:,} gated writes are parked by 20 agents, then each is polled "
            f"(`GET /agent/approvals/<txn>`) every {polls['poll_every_secs']:g} s at spread "
            f"phases for {polls['secs']:g} s; an error is any answer but 200 `pending` "
            f"(by cause: {_causes(polls)}).",
            "",
        ]
    mixed = results.get("mixed_agents")
    if mixed:
        lines += [
            "## Many agents at once: reads and gated writes",
            "",
            "| kind | requests | p50 / p90 / p99 ms | max ms | errors |",
            "|---|---|---|---|---|",
        ]
        for kind in ("read", "write"):
            entry = mixed[kind]
            lines.append(
                f"| {kind} | {entry['requests']:,} | {_lat(entry)} | {_v(entry['max_ms'])} "
                f"| {entry['errors']} |"
            )
        lines += [
            "",
            f"{mixed['agents']} agents x {mixed['rate_per_agent']:g} req/s for {mixed['secs']:g} s, "
            f"open loop ({mixed['offered_rps']:g} req/s offered); one request in "
            f"{mixed['write_every']} is a gated write (`POST`, parked: 202), the rest "
            "auto-approved reads (`GET`, forwarded). CPU per request: TAP "
            f"{_v(mixed['tap_cpu_ms_per_request'])} ms, Postgres "
            f"{_v(mixed['postgres_cpu_ms_per_request'])} ms. Errors by cause: "
            f"{_causes(mixed)}.",
            "",
        ]
    return lines


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """``(name, measured, met)`` rows for the report's target table."""
    out: list[tuple[str, str, bool | None]] = []
    polls = results.get("pending_polls")
    if polls:
        out.append(
            (
                f"{polls['pending']:,} pending approvals polled every {polls['poll_every_secs']:g} s:"
                " no errors",
                f"{polls['errors']} errors, p99 {_v(polls['p99_ms'])} ms",
                polls["errors"] == 0,
            )
        )
    mixed = results.get("mixed_agents")
    if mixed:
        errors = mixed["read"]["errors"] + mixed["write"]["errors"]
        out.append(
            (
                f"{mixed['agents']} agents x {mixed['rate_per_agent']:g} req/s mixed: errors 0",
                f"{errors} errors, p99 read {_v(mixed['read']['p99_ms'])} ms, "
                f"write {_v(mixed['write']['p99_ms'])} ms",
                errors == 0,
            )
        )
    return out


def _causes(entry: dict[str, Any]) -> str:
    causes = entry.get("error_causes") or {}
    return ", ".join(f"{cause} x{count}" for cause, count in sorted(causes.items())) or "none"


def _lat(entry: dict[str, Any]) -> str:
    return f"{_v(entry['p50_ms'])} / {_v(entry['p90_ms'])} / {_v(entry['p99_ms'])}"


def _v(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"
