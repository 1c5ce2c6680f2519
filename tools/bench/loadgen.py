"""Load generators: ``wrk`` for saturation, staggered ``hey -q`` for a fixed offered rate.

``wrk`` reports through a Lua ``done`` hook that prints one ``BENCH_JSON``
line, so nothing depends on its human-readable summary.

``hey -q`` paces each worker with its own ticker, and the workers of one
``hey`` start together, so ``-c 10 -q 20`` sends bursts of ten requests every
50 ms rather than one request every 5 ms. To offer a steady rate we start
``k`` single-worker ``hey`` processes at evenly spread phases: process ``i``
starts ``i / rate`` seconds after the first. Each worker is closed-loop (it
waits for its answer before the next tick), so latencies near or above its
tick interval (``k / rate``, at least 40 ms here) would be under-reported;
the achieved rate is recorded next to the offered one to show when that
happens.

Example::

    >>> parse_hey_csv("response-time,DNS+dialup,DNS,Request-write,Response-delay,"
    ...               "Response-read,status-code,offset\\n0.0020,0,0,0,0.0019,0,200,0.05\\n")
    [HeyRow(latency_secs=0.002, status=200, offset_secs=0.05)]
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

WRK_THREADS: Final = 1
WRK_TIMEOUT: Final = "10s"
HEY_RATE_PER_PROCESS: Final = 25.0
HEY_TIMEOUT_SECS: Final = 10
_WRK_MARKER: Final = "BENCH_JSON "


class LoadError(RuntimeError):
    """A load generator failed or printed something we cannot read."""


@dataclass(frozen=True, slots=True)
class Saturation:
    """One ``wrk`` run: as many requests as ``connections`` keep in flight."""

    rps: float
    requests: int
    duration_secs: float
    errors: int
    """Socket errors (connect, read, write, timeout) plus non-2xx/3xx statuses."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    connections: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class HeyRow:
    latency_secs: float
    status: int
    offset_secs: float


@dataclass(frozen=True, slots=True)
class Latencies:
    """Requests at a fixed offered rate (or sequentially), with their latency percentiles."""

    offered_rps: float
    achieved_rps: float
    requests: int
    errors: int
    """Requests with an unexpected status plus requests that got no answer at all."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence; NaN when it is empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def wrk_script(method: str, headers: Mapping[str, str]) -> str:
    """A wrk Lua script sending ``method`` with ``headers`` and reporting one JSON line."""
    lines = [f"wrk.method = {json.dumps(method)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    lines.append(
        "done = function(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        '  io.write(string.format("' + _WRK_MARKER + '{\\"requests\\":%d,\\"duration_us\\":%d,'
        '\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,'
        '\\"p50_us\\":%d,\\"p90_us\\":%d,\\"p99_us\\":%d}\\n",\n'
        "    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,\n"
        "    latency:percentile(50), latency:percentile(90), latency:percentile(99)))\n"
        "end"
    )
    return "\n".join(lines) + "\n"


def parse_wrk(output: str, *, connections: int) -> Saturation:
    """Read the ``BENCH_JSON`` line of a wrk run. Raises LoadError without one."""
    for line in output.splitlines():
        if line.startswith(_WRK_MARKER):
            raw = json.loads(line[len(_WRK_MARKER) :])
            break
    else:
        raise LoadError("wrk printed no BENCH_JSON line")
    duration = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Saturation(
        rps=raw["requests"] / duration if duration > 0 else 0.0,
        requests=raw["requests"],
        duration_secs=duration,
        errors=errors,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        connections=connections,
    )


def parse_hey_csv(output: str) -> list[HeyRow]:
    """Rows of ``hey -o csv`` (answered requests only: hey leaves failed ones out)."""
    rows = []
    for line in output.splitlines():
        fields = line.strip().split(",")
        if len(fields) < 8 or not fields[0][:1].isdigit():
            continue  # the header, or a blank line
        rows.append(HeyRow(float(fields[0]), int(fields[6]), float(fields[7])))
    return rows


def summarize(
    rows: Sequence[HeyRow], *, sent: int, offered_rps: float, achieved_rps: float, ok_status: int
) -> Latencies:
    latencies = sorted(r.latency_secs * 1000 for r in rows)
    bad_status = sum(1 for r in rows if r.status != ok_status)
    return Latencies(
        offered_rps=offered_rps,
        achieved_rps=achieved_rps,
        requests=len(rows),
        errors=bad_status + max(0, sent - len(rows)),
        p50_ms=percentile(latencies, 50),
        p90_ms=percentile(latencies, 90),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else math.nan,
    )


def run_wrk(
    url: str,
    *,
    script: Path,
    connections: int,
    duration_secs: float,
) -> Saturation:
    """Saturate ``url`` for ``duration_secs``. Raises LoadError."""
    argv = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{duration_secs:g}s",
        f"--timeout={WRK_TIMEOUT}",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(  # noqa: S603 -- fixed argv
        argv, capture_output=True, text=True, timeout=duration_secs + 60, check=False
    )
    if done.returncode != 0:
        raise LoadError(f"wrk exited with {done.returncode}: {done.stderr.strip()[:300]}")
    return parse_wrk(done.stdout, connections=connections)


def _hey_argv(
    url: str, *, requests: int, method: str, headers: Mapping[str, str], rate: float | None
) -> list[str]:
    argv = ["hey", "-n", str(requests), "-c", "1", "-o", "csv", "-m", method]
    argv += ["-t", str(HEY_TIMEOUT_SECS), "-disable-compression", "-disable-redirects"]
    if rate is not None:
        argv += ["-q", f"{rate:.4f}"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    return [*argv, url]


def _span_rate(rows: Sequence[HeyRow]) -> float:
    if len(rows) < 2:
        return 0.0
    offsets = sorted(r.offset_secs for r in rows)
    span = offsets[-1] - offsets[0]
    return (len(rows) - 1) / span if span > 0 else 0.0


@dataclass(frozen=True, slots=True)
class FixedRun:
    """The raw outcome of one fixed-rate round, to be combined with other rounds."""

    rows: list[HeyRow]
    sent: int
    offered_rps: float
    achieved_rps: float


def combine(runs: Sequence[FixedRun], *, ok_status: int = 200) -> Latencies:
    """Percentiles over every request of several rounds at the same offered rate."""
    rows = [row for run in runs for row in run.rows]
    return summarize(
        rows,
        sent=sum(run.sent for run in runs),
        offered_rps=runs[0].offered_rps if runs else 0.0,
        achieved_rps=sum(run.achieved_rps for run in runs) / len(runs) if runs else 0.0,
        ok_status=ok_status,
    )


def run_fixed_rate(
    url: str,
    *,
    rate: float,
    duration_secs: float,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
) -> FixedRun:
    """Offer ``rate`` requests per second for ``duration_secs`` (see the module docstring)."""
    processes = max(1, math.ceil(rate / HEY_RATE_PER_PROCESS))
    per_process = rate / processes
    count = max(1, round(per_process * duration_secs))
    argv = _hey_argv(url, requests=count, method=method, headers=headers or {}, rate=per_process)
    started = time.monotonic()
    running = []
    for i in range(processes):
        # Spread the processes' tickers evenly over one tick interval.
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        running.append(
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
        )
    rows: list[HeyRow] = []
    achieved = 0.0
    for proc in running:
        out, err = proc.communicate(timeout=duration_secs + 120)
        if proc.returncode != 0:
            raise LoadError(f"hey exited with {proc.returncode}: {err.strip()[:300]}")
        mine = parse_hey_csv(out)
        achieved += _span_rate(mine)
        rows += mine
    return FixedRun(rows=rows, sent=count * processes, offered_rps=rate, achieved_rps=achieved)


def run_sequential(
    url: str,
    *,
    requests: int,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    ok_status: int = 200,
) -> Latencies:
    """``requests`` requests one after another on one connection."""
    argv = _hey_argv(url, requests=requests, method=method, headers=headers or {}, rate=None)
    done = subprocess.run(  # noqa: S603 -- fixed argv
        argv, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise LoadError(f"hey exited with {done.returncode}: {done.stderr.strip()[:300]}")
    rows = parse_hey_csv(done.stdout)
    return summarize(
        rows, sent=requests, offered_rps=0.0, achieved_rps=_span_rate(rows), ok_status=ok_status
    )
