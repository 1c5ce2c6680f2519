"""Garbage-collector timings of a benchmarked process (loaded only by the benchmark).

The benchmark puts this directory on ``PYTHONPATH`` of the processes it
measures, with ``BENCH_GC_STATS_DIR`` set; every Python process started
there (a server and its workers) then times each collection through
``gc.callbacks`` and rewrites ``gc-<pid>.json`` in that directory, from the
callback, at most every 0.2 s: total seconds in the collector, collections, the longest
pause since start, and pauses over 1 ms and 10 ms. Nothing happens without the variable.
"""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Any

_DIR = os.environ.get("BENCH_GC_STATS_DIR")
_FLUSH_SECS = 0.2


def _install(directory: str) -> None:
    stats: dict[str, Any] = {
        "gc_secs": 0.0,
        "collections": 0,
        "max_pause_ms": 0.0,
        "pauses_over_1ms": 0,
        "pauses_over_10ms": 0,
    }
    started = [0.0]
    written = [0.0]
    path = os.path.join(directory, f"gc-{os.getpid()}.json")

    def write() -> None:
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(stats, handle)
        os.replace(tmp, path)

    def callback(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        now = time.perf_counter()
        pause = now - started[0]
        stats["gc_secs"] += pause
        stats["collections"] += 1
        pause_ms = pause * 1000
        stats["max_pause_ms"] = max(stats["max_pause_ms"], pause_ms)
        stats["pauses_over_1ms"] += pause_ms > 1
        stats["pauses_over_10ms"] += pause_ms > 10
        # NOTE: written here, after the pause is timed, and at most every
        # _FLUSH_SECS: no thread of ours runs (or shows in a profile), and a
        # file that is not rewritten is still current (no collection since).
        if now - written[0] >= _FLUSH_SECS:
            written[0] = now
            write()

    gc.callbacks.append(callback)
    write()


if _DIR:
    _install(_DIR)
