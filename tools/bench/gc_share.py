"""The garbage collector's share of a measured phase (see ``gcstats/sitecustomize.py``).

:func:`snapshot` reads every process's cumulative timings; the difference of
two snapshots is what the collector did in between, summed over processes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Final

SITE_DIR: Final = Path(__file__).resolve().parent / "gcstats"
"""Put on ``PYTHONPATH`` (with ``BENCH_GC_STATS_DIR``) of a process to time its collector."""
_SETTLE_SECS: Final = 0.5
_COUNTERS: Final = ("gc_secs", "collections", "pauses_over_1ms", "pauses_over_10ms")


def snapshot(directory: Path) -> dict[str, dict[str, float]]:
    """Every process's cumulative timings, after the writers have flushed."""
    time.sleep(_SETTLE_SECS)  # a collection rewrites its process's file at most every 0.2 s
    out: dict[str, dict[str, float]] = {}
    for path in directory.glob("gc-*.json"):
        try:
            out[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return out


def delta(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """What the collector did between two snapshots, summed over processes."""
    total = dict.fromkeys(_COUNTERS, 0.0)
    for pid, stats in after.items():
        old = before.get(pid, {})
        for counter in _COUNTERS:
            total[counter] += stats.get(counter, 0.0) - old.get(counter, 0.0)
    return total


def accumulate(into: dict[str, Any], change: dict[str, Any]) -> None:
    """Add one phase's :func:`delta` to a running total (for pooled rounds)."""
    for counter in _COUNTERS:
        into[counter] = into.get(counter, 0.0) + change[counter]


_TAIL_SYSTEMS: Final = (
    ("floor", "framework floor (Quart+Hypercorn)"),
    ("floor_uvicorn", "Quart+Uvicorn (for reference)"),
    ("tap", "TAP (Uvicorn, the default)"),
    ("tap_hypercorn", "TAP (Hypercorn)"),
)


def markdown(results: dict[str, Any]) -> list[str]:
    """The report's tail section: p99 at 200 req/s beside the collector's share."""
    rows = [
        "| system | p99 ms @200 | GC % of its CPU | collections | pauses > 1 ms "
        "| pauses > 10 ms | GC ms in the rounds |",
        "|---|---|---|---|---|---|---|",
    ]
    systems = results.get("systems", {})
    for key, label in _TAIL_SYSTEMS:
        system = systems.get(key) or {}
        spent = (system.get("gc") or {}).get("200")
        p99 = ((system.get("fixed") or {}).get("200") or {}).get("p99_ms")
        if spent is None and p99 is None:
            continue
        spent = spent or {}
        rows.append(
            f"| {label} | {_v(p99)} | {_v(spent.get('gc_share_pct'))} "
            f"| {int(spent.get('collections', 0)):,} | {int(spent.get('pauses_over_1ms', 0))} "
            f"| {int(spent.get('pauses_over_10ms', 0))} "
            f"| {_v(spent.get('gc_secs', 0.0) * 1000)} |"
        )
    pinned = (results.get("meta") or {}).get("pinning", "Pinning was not recorded.")
    return [
        "## The tail at 200 req/s: pinning and the garbage collector",
        "",
        *rows,
        "",
        f"{pinned} The collector is timed in each server process through `gc.callbacks` "
        "(`tools/bench/gcstats/`, loaded only into the measured servers); its share is the "
        "collector's time over the process tree's CPU time in the 200 req/s rounds.",
        "",
    ]


def _v(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"
