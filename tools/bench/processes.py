"""Child processes for the benchmark: start, wait until serving, sample memory, stop.

Every service runs in its own session so that :meth:`Service.stop` can signal
exactly the process group it started (a server and the workers it spawned),
by id, and nothing else on the machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO

STOP_TIMEOUT_SECS: Final = 15.0
RSS_SAMPLE_SECS: Final = 0.25
_PAGE_KIB: Final = 1024


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class StartError(RuntimeError):
    """A service did not come up; the message names it and points at its log."""


@dataclass
class Service:
    """One started server (and its descendants)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: TextIO | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Service:
        log_path = log_dir / f"{name}.log"
        log = log_path.open("a")
        process = subprocess.Popen(  # noqa: S603 -- fixed argv built by the harness
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
        return cls(name=name, process=process, log_path=log_path, _log=log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_http(self, url: str, *, timeout_secs: float = 60.0) -> None:
        """Return once ``url`` answers with any HTTP status. Raises StartError."""
        deadline = time.monotonic() + timeout_secs
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StartError(
                    f"{self.name} exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310 -- loopback only
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.2)
        raise StartError(
            f"{self.name} did not answer {url} within {timeout_secs:.0f} s; see {self.log_path}"
        )

    def stop(self) -> None:
        """SIGTERM the service's process group, then SIGKILL it after a grace period."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_SECS)
        # Workers that outlived their parent are still in the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces.
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants that exist now."""
    children = _children_map()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * _PAGE_KIB
    except OSError:
        pass
    return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (shared pages split between their users), 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * _PAGE_KIB
    except OSError:
        pass
    return 0


@dataclass
class RssPeak:
    """Peak memory seen while sampling: the process-tree sum and the largest single process.

    RSS counts shared pages once per process (Postgres' shared buffers, say),
    so the tree's PSS sum is the better figure for "memory this system uses".
    """

    total_bytes: int = 0
    largest_process_bytes: int = 0
    processes: int = 0
    total_pss_bytes: int = 0

    def merge(self, other: RssPeak) -> RssPeak:
        return RssPeak(
            max(self.total_bytes, other.total_bytes),
            max(self.largest_process_bytes, other.largest_process_bytes),
            max(self.processes, other.processes),
            max(self.total_pss_bytes, other.total_pss_bytes),
        )


class RssSampler:
    """Samples the RSS of process trees in a thread while a load phase runs."""

    def __init__(self, roots: Iterable[int]) -> None:
        self._roots = list(roots)
        self.peak = RssPeak()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        pids = [pid for root in self._roots for pid in process_tree(root)]
        sizes = [rss_bytes(pid) for pid in pids]
        pss = sum(pss_bytes(pid) for pid in pids)
        self.peak = self.peak.merge(RssPeak(sum(sizes), max(sizes, default=0), len(pids), pss))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(RSS_SAMPLE_SECS)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def _busy_jiffies() -> int:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields[:8]]
    # user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    return sum(values) - values[3] - values[4]


def _tree_jiffies(roots: Iterable[int]) -> int:
    total = 0
    for root in roots:
        for pid in process_tree(root):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            # utime stime cutime cstime: reaped children (hey, wrk) land in their parent's c-times.
            total += sum(int(v) for v in fields[11:15])
    return total


class CpuMonitor:
    """Share of the machine's CPU used by processes outside the benchmark during a phase.

    Busy time from ``/proc/stat`` minus the CPU time of the harness's own process
    tree (servers, workers, load generators) and of ``extra_roots`` (Postgres,
    which daemonizes). A high figure means other work shared the cores and the
    phase's numbers are noisy.
    """

    def __init__(self, extra_roots: Iterable[int] = ()) -> None:
        self._roots = [os.getpid(), *extra_roots]
        self.background_pct = 0.0

    def __enter__(self) -> CpuMonitor:
        self._start = (time.monotonic(), _busy_jiffies(), _tree_jiffies(self._roots))
        return self

    def __exit__(self, *_exc: object) -> None:
        elapsed = time.monotonic() - self._start[0]
        busy = _busy_jiffies() - self._start[1]
        ours = _tree_jiffies(self._roots) - self._start[2]
        capacity = elapsed * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)
        self.background_pct = max(0.0, 100 * (busy - ours) / capacity) if capacity else 0.0


class TreeCpu:
    """CPU seconds used by process trees (and their reaped children) during a block."""

    def __init__(self, roots: Iterable[int]) -> None:
        self._roots = list(roots)
        self.seconds = 0.0

    def __enter__(self) -> TreeCpu:
        self._start = _tree_jiffies(self._roots)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = (_tree_jiffies(self._roots) - self._start) / os.sysconf("SC_CLK_TCK")
