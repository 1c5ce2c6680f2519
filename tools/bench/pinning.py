"""Core pinning for the benchmark: load on one core, the system under test on the other.

With two cores shared by the load generator, the upstream and the proxy, the
scheduler moves them about and a proxy's tail latency includes waiting for a
core the load generator holds. Pinning (``taskset``) keeps them apart: the
load generators (``wrk``, ``hey``, the Python clients) and the upstreams run
on :data:`LOAD_CORE`, each system under test (and TAP's Postgres) on
:data:`SYSTEM_CORE`. Without ``taskset`` or with fewer than two cores nothing
is pinned, and the report says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Final

LOAD_CORE: Final = 0
SYSTEM_CORE: Final = 1
UPSTREAM_PREFIXES: Final = ("nginx-upstream", "sse-upstream")
"""Services that stand for the outside world: they share the load generator's core."""


def available() -> bool:
    """Whether pinning is possible here (``taskset`` and at least two cores)."""
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def command(argv: Sequence[str], core: int) -> list[str]:
    """``argv`` started on ``core`` (unchanged when pinning is not available)."""
    if not available():
        return list(argv)
    return ["taskset", "-c", str(core), *argv]


def core_for(service_name: str) -> int:
    """The core a started service runs on."""
    return LOAD_CORE if service_name.startswith(UPSTREAM_PREFIXES) else SYSTEM_CORE


def pin_process(pid: int, core: int) -> None:
    """Move a running process and its threads to ``core`` (children it starts later follow)."""
    if available():
        subprocess.run(  # noqa: S603 -- fixed argv
            ["taskset", "-a", "-p", "-c", str(core), str(pid)],  # noqa: S607
            capture_output=True,
            check=False,
        )


def pin_self() -> None:
    """Run the harness itself (the Python load clients) on the load core."""
    if available():
        os.sched_setaffinity(0, {LOAD_CORE})


def describe() -> str:
    """One sentence for the report."""
    if not available():
        return "Nothing was pinned (no taskset, or fewer than two cores)."
    return (
        f"Pinned with taskset: load generators, the harness and the upstreams on core "
        f"{LOAD_CORE}; each system under test, and TAP's Postgres, on core {SYSTEM_CORE}."
    )
