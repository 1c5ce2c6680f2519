"""``make bench``: measure TAP against its baselines in one run, all on loopback.

Run from the repository root with the project's virtualenv::

    python -m tools.bench.run [--quick] [--no-doc]

Phases, in order (each one bounded in time and request count):

1. set-up: a temporary directory, an embedded Postgres, the ``bench``
   credentials (an api key, and an OAuth 2 client whose token endpoint is the
   nginx upstream) and agent through the ``tap`` CLI (plus 9 seeded ones, so the
   database holds 10 of each), static bodies, and every server;
2. saturation (``wrk``) of each system, then latency at 200 req/s and at half
   of TAP's saturation (``hey``), sampling memory throughout;
3. response sizes 1 KiB .. 10 MiB, direct and through TAP, and the sanitizer
   timed in-process on the same bodies;
4. the approval path (decision to upstream), and the audit hash chain's cost
   per record against TAP's CPU per request (in-process, same Postgres);
5. a py-spy profile of TAP's workers at saturation;
6. TAP under its other supported server (``TAP_SERVER=hypercorn``), and the
   framework floor under Uvicorn;
7. lookups with 10 and with 10,000 agents and credentials, cache on and off.

It prints the tables, writes the raw results to ``tools/bench/out/`` and
rewrites ``docs/performance.md``. It asserts nothing: a missed target is a
number in the report, never a failure of the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from tools.bench import (
    approval_path,
    audit_chain,
    audit_scale,
    gc_share,
    loadgen,
    nginx,
    pinning,
    processes,
    profile,
    report,
    scale_load,
    seed,
    stream_ttfb,
)
from tools.bench.processes import CpuMonitor, RssPeak, RssSampler, Service, TreeCpu

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent.parent
TOOLS_DIR: Final = HERE / ".tools"
OUT_DIR: Final = HERE / "out"
DOC: Final = ROOT / "docs" / "performance.md"
BIN: Final = Path(sys.executable).parent

WORKERS: Final = 2
FIXED_RATE: Final = 200.0
SCALE_AGENTS: Final = 10_000
BASE_AGENTS: Final = 10
APPROVAL_SAMPLES: Final = 30
SIZE_REQUESTS: Final = {"1k": 200, "100k": 100, "1m": 40, "10m": 12}
PROFILE_SECS: Final = 8
QUIET_PCT: Final = 10.0
OAUTH2_CREDENTIAL: Final = "bench-oauth2"


@dataclass(frozen=True)
class Durations:
    """Phase lengths. Measurements run in rounds that visit every system in turn, so
    a burst of outside load lands on all of them rather than on one."""

    warm_secs: float
    sat_secs: float
    """One saturation round; the best of ``rounds`` is reported."""
    fixed_secs: float
    """One fixed-rate round; the requests of all ``rounds`` are pooled."""
    rounds: int
    connections: int = 32

    @classmethod
    def for_mode(cls, quick: bool) -> Durations:
        return cls(1, 2, 2, 2) if quick else cls(2, 4, 4, 3)


@dataclass
class Target:
    """How to drive one system: URL, method and headers; success is a 200."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    roots: list[int] = field(default_factory=list)
    """Process ids whose trees count towards this system's memory."""
    gc_dir: Path | None = None
    """Where its Python processes write garbage-collector timings (:mod:`tools.bench.gc_share`)."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Bench:
    """One run: the services it started, the results so far, and the phases."""

    def __init__(self, work: Path, durations: Durations, *, second_server: bool) -> None:
        self.work = work
        self.d = durations
        self.second_server = second_server
        self.services: list[Service] = []
        self.results: dict[str, Any] = {"systems": {}, "failures": []}
        self.secret = "sk_bench_" + secrets.token_urlsafe(24)
        self.master_key = secrets.token_bytes(32)
        self.database_url = ""
        self.embedded: Any = None
        self.api_key = ""
        self.targets: dict[str, Target] = {}
        self.fixed_runs: dict[tuple[str, str], list[loadgen.FixedRun]] = {}
        self.upstream_port = 0
        self.nginx_dir = work / "nginx"
        self.logs = work / "logs"
        self.logs.mkdir(parents=True)
        self.nginx_dir.mkdir(parents=True)
        self.postgres_peak = RssPeak()
        self.tap_service: Service | None = None
        self.second_service: Service | None = None
        """TAP under its other supported server (Hypercorn), loaded beside the default."""

    # -- services -------------------------------------------------------------------

    def start(
        self, name: str, argv: list[str], *, ready_url: str, env: Mapping[str, str] | None = None
    ) -> Service:
        argv = pinning.command(argv, pinning.core_for(name))
        service = Service.start(name, argv, log_dir=self.logs, env=env, cwd=ROOT)
        self.services.append(service)
        service.wait_http(ready_url)
        return service

    def stop(self, service: Service) -> None:
        service.stop()
        if service in self.services:
            self.services.remove(service)

    def stop_all(self) -> None:
        for service in reversed(self.services):
            with contextlib.suppress(Exception):
                service.stop()
        self.services.clear()
        if self.embedded is not None:
            with contextlib.suppress(Exception):
                self.embedded.stop()

    def tap_env(
        self, port: int | None, *, cache_ttl: float | None = None, database_url: str = ""
    ) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TAP_", "DANGEROUS_TAP_", "POSTGRES_"))
        }
        env.update(
            POSTGRES_DATABASE_URL=database_url or self.database_url,
            TAP_ENCRYPTION_KEY=self.master_key.hex(),
            TAP_DATA_DIR=str(self.work / "data"),
            TAP_WORKERS=str(WORKERS),
            TAP_AUDIT_LOG=str(self.work / "audit.jsonl"),
            DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS="1",
        )
        if port is not None:
            env["TAP_LISTEN_ADDR"] = f"127.0.0.1:{port}"
            env.update(self.gc_env(port, env.get("PYTHONPATH")))
        if cache_ttl is not None:
            env["TAP_CACHE_TTL_SECS"] = f"{cache_ttl:g}"
        return env

    def gc_env(self, port: int, pythonpath: str | None) -> dict[str, str]:
        """Environment that makes a server on ``port`` time its garbage collector."""
        directory = self.gc_dir(port)
        directory.mkdir(parents=True, exist_ok=True)
        return {
            "BENCH_GC_STATS_DIR": str(directory),
            "PYTHONPATH": os.pathsep.join(p for p in (str(gc_share.SITE_DIR), pythonpath) if p),
        }

    def gc_dir(self, port: int) -> Path:
        return self.work / "gc" / str(port)

    def tap_headers(
        self, path: str = "/json", api_key: str = "", credential: str = "bench"
    ) -> dict[str, str]:
        return {
            "X-TAP-Key": api_key or self.api_key,
            "X-TAP-Credential": credential,
            "X-TAP-Target": f"http://127.0.0.1:{self.upstream_port}{path}",
            "X-TAP-Method": "GET",
        }

    def start_tap(
        self,
        name: str,
        *,
        cache_ttl: float | None = None,
        database_url: str = "",
        api_key: str = "",
        extra_env: Mapping[str, str] | None = None,
    ) -> tuple[Service, Target]:
        port = processes.free_port()
        env = self.tap_env(port, cache_ttl=cache_ttl, database_url=database_url)
        env.update(extra_env or {})
        service = self.start(
            name, [str(BIN / "tap-proxy")], ready_url=f"http://127.0.0.1:{port}/health", env=env
        )
        headers = self.tap_headers(api_key=api_key)
        return service, Target(
            f"http://127.0.0.1:{port}/forward", "POST", headers, [service.pid], self.gc_dir(port)
        )

    def tap_cli(self, args: list[str], stdin: str = "", database_url: str = "") -> str:
        done = subprocess.run(  # noqa: S603 -- our own CLI
            [str(BIN / "tap"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.tap_env(None, database_url=database_url),
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tap {args[0]} failed: {done.stderr.strip()[-400:]}")
        return done.stdout

    # -- phases ---------------------------------------------------------------------

    def setup(self) -> None:
        from app.store import db

        log("starting Postgres and creating the bench credentials and agent")
        self.embedded = db.start_embedded(self.work / "pg")
        self.database_url = self.embedded.url
        # Chosen now: the OAuth 2 credential's token endpoint is on the upstream.
        self.upstream_port = processes.free_port()
        pg_pid = self.postgres_pid()
        if pg_pid:
            # TAP's Postgres work is TAP's cost: it shares the system core.
            pinning.pin_process(pg_pid, pinning.SYSTEM_CORE)
        self.api_key = self.create_bench_agent(self.database_url)
        asyncio.run(
            seed.seed(
                self.database_url,
                self.master_key,
                first=1,
                count=BASE_AGENTS - 1,
                allowed_host="127.0.0.1",
            )
        )

        log("starting nginx (upstream, injector), mitmproxy, the framework floor and TAP")
        nginx.write_static(self.nginx_dir)
        conf = nginx.write_upstream_conf(self.nginx_dir, port=self.upstream_port)
        up = self.start(
            "nginx-upstream",
            nginx.argv(conf, self.nginx_dir),
            ready_url=f"http://127.0.0.1:{self.upstream_port}/json",
        )
        self.targets["direct"] = Target(
            f"http://127.0.0.1:{self.upstream_port}/json", roots=[up.pid]
        )

        inject_port = processes.free_port()
        conf = nginx.write_inject_conf(
            self.nginx_dir, port=inject_port, upstream_port=self.upstream_port, secret=self.secret
        )
        inj = self.start(
            "nginx-inject",
            nginx.argv(conf, self.nginx_dir),
            ready_url=f"http://127.0.0.1:{inject_port}/json",
        )
        self.targets["nginx_inject"] = Target(
            f"http://127.0.0.1:{inject_port}/json", roots=[inj.pid]
        )

        mitmdump = TOOLS_DIR / "mitmproxy" / "bin" / "mitmdump"
        if mitmdump.exists():
            port = processes.free_port()
            env = dict(os.environ, BENCH_INJECT_AUTHORIZATION=f"Bearer {self.secret}")
            argv = [
                str(mitmdump), "--mode", f"reverse:http://127.0.0.1:{self.upstream_port}/",
                "--listen-host", "127.0.0.1", "--listen-port", str(port), "-q",
                "--set", f"confdir={self.work / 'mitmproxy'}", "-s", str(HERE / "mitm_addon.py"),
            ]  # fmt: skip
            mitm = self.start("mitmproxy", argv, ready_url=f"http://127.0.0.1:{port}/json", env=env)
            self.targets["mitmproxy_inject"] = Target(
                f"http://127.0.0.1:{port}/json", roots=[mitm.pid]
            )
        else:
            self.results["failures"].append("mitmproxy is not installed (run `make bench`)")

        servers = ["hypercorn"] + (["uvicorn"] if self.second_server else [])
        for server in servers:
            port = processes.free_port()
            env = dict(os.environ)
            env.update(self.gc_env(port, env.get("PYTHONPATH")))
            argv = [
                sys.executable, "-m", "tools.bench.floor_app", "--port", str(port),
                "--workers", str(WORKERS), "--server", server,
            ]  # fmt: skip
            floor = self.start(
                f"floor-{server}", argv, ready_url=f"http://127.0.0.1:{port}/json", env=env
            )
            key = "floor" if server == "hypercorn" else "floor_uvicorn"
            self.targets[key] = Target(
                f"http://127.0.0.1:{port}/forward",
                "POST",
                self.tap_headers(),
                [floor.pid],
                self.gc_dir(port),
            )

        self.tap_service, self.targets["tap"] = self.start_tap("tap")
        self.check_tap(self.targets["tap"])
        # The same TAP, through the OAuth 2 credential: a cached token instead of a stored key.
        self.targets["tap_oauth2"] = Target(
            self.targets["tap"].url,
            "POST",
            self.tap_headers(credential=OAUTH2_CREDENTIAL),
            [self.tap_service.pid],
        )
        self.check_tap(self.targets["tap_oauth2"])
        if self.second_server:
            # Both TAPs serve the same database; only one is loaded at a time.
            self.second_service, self.targets["tap_hypercorn"] = self.start_tap(
                "tap-hypercorn", extra_env={"TAP_SERVER": "hypercorn"}
            )
            self.check_tap(self.targets["tap_hypercorn"])

    def create_bench_agent(self, database_url: str) -> str:
        """The ``bench`` credentials (api-key, OAuth 2) and agent, made with the ``tap`` CLI.

        Returns the agent's key.
        """
        # Only `tap init` creates the schema and binds the key; every other command needs both.
        self.tap_cli(["init"], database_url=database_url)
        self.tap_cli(
            ["add", "--name", "bench", "--value-file", "-", "--allowed-host", "127.0.0.1"],
            stdin=self.secret,
            database_url=database_url,
        )
        bundle = {
            "client_id": "bench",
            "client_secret": "cs_bench_" + secrets.token_urlsafe(16),
            "token_url": f"http://127.0.0.1:{self.upstream_port}/oauth2/token",
        }
        oauth2 = ["add", "--name", OAUTH2_CREDENTIAL, "--auth", "oauth2", "--value-file", "-"]
        self.tap_cli(
            [*oauth2, "--allowed-host", "127.0.0.1"],
            stdin=json.dumps(bundle),
            database_url=database_url,
        )
        grants = f"bench,{OAUTH2_CREDENTIAL}"
        out = self.tap_cli(
            ["agent", "create", "--name", "bench", "--credentials", grants],
            database_url=database_url,
        )
        return next(
            line.split("=", 1)[1].strip()
            for line in out.splitlines()
            if line.startswith("TAP_API_KEY=")
        )

    def check_tap(self, target: Target) -> None:
        """One request through TAP must return the upstream's JSON."""
        import urllib.request

        request = urllib.request.Request(target.url, method="POST", headers=target.headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 -- loopback
            body = response.read().decode()
        if body != nginx.FIXED_JSON:
            raise RuntimeError(f"TAP answered {body[:200]!r}, not the upstream's JSON")

    @contextlib.contextmanager
    def sampling(
        self, key: str, target: Target, phase: str, *, postgres: bool = False
    ) -> Iterator[None]:
        roots = list(target.roots)
        pg_pid = self.postgres_pid()
        cpu = CpuMonitor([pg_pid] if pg_pid else [])
        with cpu, RssSampler(roots) as sampler:
            pg_sampler = RssSampler([pg_pid]) if pg_pid and postgres else None
            if pg_sampler:
                pg_sampler.__enter__()
            try:
                yield
            finally:
                if pg_sampler:
                    pg_sampler.__exit__(None, None, None)
                    self.postgres_peak = self.postgres_peak.merge(pg_sampler.peak)
        system = self.results["systems"].setdefault(key, {})
        old = RssPeak(**system["rss"]) if system.get("rss") else RssPeak()
        system["rss"] = old.merge(sampler.peak).__dict__
        system.setdefault("background_cpu_pct", {})[phase] = round(cpu.background_pct, 1)

    def postgres_pid(self) -> int | None:
        pidfile = self.work / "pg" / "postgres" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(pidfile.read_text().splitlines()[0])
        return None

    def script(self, key: str, target: Target) -> Path:
        path = self.work / f"wrk-{key}.lua"
        path.write_text(loadgen.wrk_script(target.method, target.headers))
        return path

    def warm(self, key: str, target: Target) -> None:
        loadgen.run_wrk(
            target.url,
            script=self.script(key, target),
            connections=self.d.connections,
            duration_secs=self.d.warm_secs,
        )

    def saturate(self, key: str, target: Target) -> None:
        with self.sampling(key, target, "saturation", postgres=key.startswith("tap")):
            result = loadgen.run_wrk(
                target.url,
                script=self.script(key, target),
                connections=self.d.connections,
                duration_secs=self.d.sat_secs,
            )
        system = self.results["systems"].setdefault(key, {})
        system.setdefault("saturation_rounds", []).append(result.to_json())
        best = max(system["saturation_rounds"], key=lambda r: r["rps"])
        system["saturation"] = best
        log(f"  {key}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, {result.errors} errors")

    def fixed(self, key: str, target: Target, label: str, rate: float) -> None:
        pg_pid = self.postgres_pid()
        gc_before = gc_share.snapshot(target.gc_dir) if target.gc_dir else None
        with (
            self.sampling(key, target, label, postgres=key.startswith("tap")),
            TreeCpu(target.roots) as cpu,
            TreeCpu([pg_pid] if pg_pid else []) as pg_cpu,
        ):
            run = loadgen.run_fixed_rate(
                target.url,
                rate=rate,
                duration_secs=self.d.fixed_secs,
                method=target.method,
                headers=target.headers,
            )
        self.fixed_runs.setdefault((key, label), []).append(run)
        if target.gc_dir is not None and gc_before is not None:
            system_gc = self.results["systems"].setdefault(key, {}).setdefault("gc", {})
            spent = system_gc.setdefault(label, {"cpu_secs": 0.0})
            gc_share.accumulate(spent, gc_share.delta(gc_before, gc_share.snapshot(target.gc_dir)))
            spent["cpu_secs"] += cpu.seconds
            spent["gc_share_pct"] = round(100 * spent["gc_secs"] / max(spent["cpu_secs"], 1e-9), 2)
        # CPU time per request barely moves when other work shares the cores,
        # unlike latency and saturation; it is the steadiest figure on a busy machine.
        used = self.results["systems"].setdefault(key, {}).setdefault("cpu", {})
        acc = used.setdefault(label, {"cpu_secs": 0.0, "postgres_cpu_secs": 0.0, "requests": 0})
        acc["cpu_secs"] += cpu.seconds
        acc["postgres_cpu_secs"] += pg_cpu.seconds if key.startswith("tap") else 0.0
        acc["requests"] += len(run.rows)
        if acc["requests"]:
            acc["cpu_ms_per_request"] = round(1000 * acc["cpu_secs"] / acc["requests"], 3)
            acc["postgres_cpu_ms_per_request"] = round(
                1000 * acc["postgres_cpu_secs"] / acc["requests"], 3
            )
        result = loadgen.combine(self.fixed_runs[(key, label)])
        self.results["systems"].setdefault(key, {}).setdefault("fixed", {})[label] = (
            result.to_json()
        )
        log(
            f"  {key} @{rate:.0f}/s: p50 {result.p50_ms:.2f} p90 {result.p90_ms:.2f} "
            f"p99 {result.p99_ms:.2f} ms so far, {result.errors} errors"
        )

    def systems(self) -> None:
        log("warm-up (wrk)")
        for key, target in self.targets.items():
            self.guard(f"warm-up of {key}", functools.partial(self.warm, key, target))
        for round_ in range(1, self.d.rounds + 1):
            log(f"saturation (wrk), round {round_} of {self.d.rounds}")
            for key, target in self.targets.items():
                self.guard(f"saturation of {key}", functools.partial(self.saturate, key, target))
        tap_rps = self.results["systems"].get("tap", {}).get("saturation", {}).get("rps")
        half = round(tap_rps / 2) if tap_rps else FIXED_RATE
        self.results["half_tap_rps"] = half
        for label, rate in (("200", FIXED_RATE), ("half", half)):
            for round_ in range(1, self.d.rounds + 1):
                log(f"fixed offered rate {rate:.0f} req/s (hey), round {round_} of {self.d.rounds}")
                for key, target in self.targets.items():
                    self.guard(
                        f"{rate:.0f} req/s on {key}",
                        functools.partial(self.fixed, key, target, label, rate),
                    )
        for label in ("200", "half"):
            tap = self.results["systems"].get("tap", {}).get("fixed", {}).get(label)
            direct = self.results["systems"].get("direct", {}).get("fixed", {}).get(label)
            if tap and direct:
                self.results[f"added_latency_{label}"] = {
                    p: round(tap[p] - direct[p], 3) for p in ("p50_ms", "p90_ms", "p99_ms")
                }
        if self.second_service is not None:
            self.stop(self.second_service)
            self.second_service = None

    def sizes(self) -> None:
        log("response sizes")
        from app.proxy.sanitize import Sanitizer

        sanitizer = Sanitizer.for_secrets([("bench", self.secret)])
        tap = self.targets["tap"]
        sizes: dict[str, Any] = {}
        for name, size in nginx.BODY_SIZES.items():
            path = f"/static/{name}.json"
            count = SIZE_REQUESTS[name]
            direct = loadgen.run_sequential(
                self.targets["direct"].url.replace("/json", path), requests=count
            )
            headers = {
                **tap.headers,
                "X-TAP-Target": f"http://127.0.0.1:{self.upstream_port}{path}",
            }
            through = loadgen.run_sequential(
                tap.url, requests=count, method="POST", headers=headers
            )
            body = (self.nginx_dir / "static" / f"{name}.json").read_bytes()
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                sanitizer.redact_body(body, "application/json")
                best = min(best, time.perf_counter() - started)
            entry = {
                "bytes": size,
                "direct": direct.to_json(),
                "tap": through.to_json(),
                "added_p50_ms": round(through.p50_ms - direct.p50_ms, 3),
                "sanitize_ms": round(best * 1000, 3),
                "sanitize_ms_per_mib": round(best * 1000 / (size / report.MIB), 3),
            }
            sizes[name] = entry
            log(
                f"  {name}: direct p50 {direct.p50_ms:.2f} ms, TAP p50 {through.p50_ms:.2f} ms, "
                f"sanitizer {entry['sanitize_ms']:.2f} ms, errors {direct.errors + through.errors}"
            )
        self.results["sizes"] = sizes

    def approvals(self) -> None:
        log(f"approval path ({APPROVAL_SAMPLES} approvals)")
        tap = self.targets["tap"]
        result = asyncio.run(
            approval_path.measure(
                tap_url=tap.url.removesuffix("/forward"),
                database_url=self.database_url,
                headers={k: v for k, v in tap.headers.items() if k != "X-TAP-Method"},
                upstream_port=self.upstream_port,
                stamp_dir=self.nginx_dir,
                samples=APPROVAL_SAMPLES,
            )
        )
        self.results["approval"] = result.to_json()
        log(f"  p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, {result.missing} missing")

    def audit_chain(self) -> None:
        log("audit chain (chained append against the write before the chain)")
        result = asyncio.run(audit_chain.measure(self.database_url))
        cpu = self.results["systems"].get("tap", {}).get("cpu", {}).get("200") or {}
        per_request = None
        if cpu.get("cpu_ms_per_request"):
            per_request = cpu["cpu_ms_per_request"] + (cpu.get("postgres_cpu_ms_per_request") or 0)
        result["tap_cpu_ms_per_request"] = per_request
        result["share_pct"] = audit_chain.share_pct(result, per_request)
        self.results["audit_chain"] = result
        log(
            f"  {result['chained_us_per_record']} us/record chained, "
            f"{result['plain_us_per_record']} before the chain, share {result['share_pct']}%"
        )

    def profile(self) -> None:
        py_spy = TOOLS_DIR / "pydeps" / "bin" / "py-spy"
        if not py_spy.exists():
            self.results["failures"].append("py-spy is not installed; no profile")
            return
        log(f"profiling TAP at saturation for {PROFILE_SECS} s (py-spy)")
        tap = self.targets["tap"]
        script = self.script("tap-profile", tap)
        load = threading.Thread(
            target=loadgen.run_wrk,
            kwargs={
                "url": tap.url,
                "script": script,
                "connections": self.d.connections,
                "duration_secs": PROFILE_SECS + 3,
            },
        )
        load.start()
        try:
            time.sleep(1)
            assert self.tap_service is not None
            raw = profile.record(
                py_spy, self.tap_service.pid, seconds=PROFILE_SECS, out=self.work / "profile.txt"
            )
        finally:
            load.join()
        (OUT_DIR / "profile-raw.txt").write_text(raw)
        ranked = profile.top_frames(raw, 40)
        self.results["profile"] = ranked.to_json()
        for name, pct in ranked.self_pct[:8]:
            log(f"  self {pct:5.1f}%  {name}")

    def scale(self) -> None:
        """Same load on a 10-agent and a 10,000-agent database, cache on and off, interleaved."""
        log("lookups with 10 and 10,000 agents and credentials")
        for service in list(self.services):
            if not service.name.startswith("nginx-upstream"):
                self.stop(service)
        large_url = asyncio.run(seed.create_database(self.database_url, "bench_large"))
        large_key = self.create_bench_agent(large_url)
        started = time.perf_counter()
        asyncio.run(
            seed.seed(
                large_url,
                self.master_key,
                first=1,
                count=SCALE_AGENTS - 1,
                allowed_host="127.0.0.1",
            )
        )
        counts = {
            "10": asyncio.run(seed.counts(self.database_url)),
            "10000": asyncio.run(seed.counts(large_url)),
        }
        log(f"  seeded {counts} in {time.perf_counter() - started:.1f} s")
        self.results["scale_counts"] = counts
        points: dict[tuple[str, str], Target] = {}
        for agents, url, key in (
            ("10", self.database_url, self.api_key),
            ("10000", large_url, large_key),
        ):
            for cache in ("cached", "uncached"):
                _, target = self.start_tap(
                    f"tap-{cache}-{agents}",
                    cache_ttl=0 if cache == "uncached" else None,
                    database_url=url,
                    api_key=key,
                )
                loadgen.run_sequential(
                    target.url, requests=100, method="POST", headers=target.headers
                )
                points[(cache, agents)] = target
        runs: dict[tuple[str, str], list[loadgen.FixedRun]] = {}
        background: dict[tuple[str, str], list[float]] = {}
        cpu_secs: dict[tuple[str, str], list[float]] = {}
        pg_pid = self.postgres_pid()
        for round_ in range(1, self.d.rounds + 1):
            log(f"  round {round_} of {self.d.rounds}")
            for point, target in points.items():
                with (
                    CpuMonitor([pg_pid] if pg_pid else []) as cpu,
                    TreeCpu(target.roots) as tap_cpu,
                    TreeCpu([pg_pid] if pg_pid else []) as pg_cpu,
                ):
                    run = loadgen.run_fixed_rate(
                        target.url,
                        rate=FIXED_RATE,
                        duration_secs=self.d.fixed_secs,
                        method="POST",
                        headers=target.headers,
                    )
                runs.setdefault(point, []).append(run)
                background.setdefault(point, []).append(cpu.background_pct)
                cpu_secs[point] = [
                    a + b
                    for a, b in zip(
                        cpu_secs.get(point, [0.0, 0.0]),
                        (tap_cpu.seconds, pg_cpu.seconds),
                        strict=True,
                    )
                ]
        for (cache, agents), point_runs in runs.items():
            result = loadgen.combine(point_runs)
            entry = {
                **result.to_json(),
                "background_cpu_pct": round(max(background[(cache, agents)]), 1),
                "cpu_ms_per_request": round(
                    1000 * cpu_secs[(cache, agents)][0] / max(1, result.requests), 3
                ),
                "postgres_cpu_ms_per_request": round(
                    1000 * cpu_secs[(cache, agents)][1] / max(1, result.requests), 3
                ),
            }
            self.results.setdefault("scale", {}).setdefault(cache, {})[agents] = entry
            log(
                f"  {agents} agents, cache {cache}: p50 {result.p50_ms:.2f} "
                f"p99 {result.p99_ms:.2f} ms, {result.errors} errors"
            )

    def guard(self, what: str, action: Callable[[], object]) -> None:
        """Run one measurement; a failure is recorded in the report and the run goes on."""
        try:
            action()
        except Exception as exc:  # a failed phase must not stop the others
            message = f"{what}: {type(exc).__name__}: {str(exc)[:300]}"
            log(f"  FAILED {message}")
            self.results["failures"].append(message)


def _cmd(argv: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)  # noqa: S603
        return (done.stdout + done.stderr).strip()
    return "n/a"


def describe_machine() -> dict[str, str]:
    cpu = "n/a"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "n/a"
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f"{kib / 1024 / 1024:.1f} GiB"
    os_name = platform.system()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": os_name,
        "kernel": platform.release(),
    }


def versions(database_url: str) -> dict[str, str]:
    import importlib.metadata as md

    out = {"Python": platform.python_version()}
    for dist in ("Quart", "Hypercorn", "Uvicorn", "httptools", "uvloop", "aiohttp", "asyncpg"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[dist] = md.version(dist)
    nginx_v = _cmd([nginx.nginx_binary(), "-v"]).rsplit("/", 1)[-1]
    out["nginx"] = nginx_v
    out["wrk"] = _cmd(["dpkg-query", "-W", "-f=${Version}", "wrk"])
    out["hey"] = _cmd(["dpkg-query", "-W", "-f=${Version}", "hey"])
    mitm = TOOLS_DIR / "mitmproxy" / "bin" / "mitmdump"
    if mitm.exists():
        out["mitmproxy"] = _cmd([str(mitm), "--version"]).splitlines()[0].split()[-1]
    if database_url:

        async def pg() -> str:
            import asyncpg

            conn = await asyncpg.connect(database_url)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        with contextlib.suppress(Exception):
            out["Postgres"] = asyncio.run(pg())
    return out


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TAP against its baselines, on loopback.")
    parser.add_argument("--quick", action="store_true", help="short phases, for trying the harness")
    parser.add_argument(
        "--one-server",
        action="store_true",
        help="skip the second server's runs (TAP under Hypercorn, Quart under Uvicorn)",
    )
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="measure nothing: print the tables and rewrite the page from an earlier run's JSON",
    )
    args = parser.parse_args(argv)
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
        print(report.terminal(results))
        if not args.no_doc:
            report.write_markdown(DOC, results)
        return 0
    for tool in ("wrk", "hey"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is not installed; run `make bench`", file=sys.stderr)
            return 2
    second_server = not args.one_server
    # SIGTERM unwinds like Ctrl-C so that every started server is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    OUT_DIR.mkdir(exist_ok=True)
    with CpuMonitor() as quiet:
        time.sleep(3)
    if quiet.background_pct > QUIET_PCT:
        log(
            f"WARNING: other processes use {quiet.background_pct:.0f}% of the CPU; "
            "the figures will be noisy (run on a quiet machine)"
        )
    started = time.perf_counter()
    # The harness and the load generators it starts run on the load core.
    pinning.pin_self()
    with tempfile.TemporaryDirectory(prefix="tap-bench-") as tmp:
        bench = Bench(Path(tmp), Durations.for_mode(args.quick), second_server=second_server)
        try:
            bench.setup()
            bench.results["meta"] = {
                "machine": describe_machine(),
                "versions": versions(bench.database_url),
            }
            bench.systems()
            bench.guard("response sizes", bench.sizes)
            log("SSE time to first byte, through TAP and direct")
            bench.guard(
                "SSE time to first byte",
                lambda: stream_ttfb.run(bench, processes.free_port()),
            )
            bench.guard("approval path", bench.approvals)
            bench.guard("audit chain", bench.audit_chain)
            log(f"{scale_load.PENDING:,} pending approvals, polled")
            bench.guard(
                "pending approvals polled",
                lambda: scale_load.pending_polls(bench, quick=args.quick),
            )
            log(f"{scale_load.MIXED_AGENTS} agents of mixed reads and gated writes")
            bench.guard(
                "many agents at once", lambda: scale_load.mixed_agents(bench, quick=args.quick)
            )
            log("audit log at scale: build, then explain its reads")
            bench.guard("audit log at scale", lambda: audit_scale.run(bench, quick=args.quick))
            bench.guard("profile", bench.profile)
            bench.guard("agent scaling", bench.scale)
        except KeyboardInterrupt:
            bench.results["failures"].append("interrupted")
        finally:
            bench.stop_all()
        results = bench.results
        results["postgres_rss"] = bench.postgres_peak.__dict__
    results["background_cpu_before_pct"] = round(quiet.background_pct, 1)
    meta = results.setdefault("meta", {})
    meta.update(
        finished=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command="make bench" if not args.quick else "make bench BENCH_ARGS=--quick",
        elapsed_secs=round(time.perf_counter() - started, 1),
        fixed_json_bytes=len(nginx.FIXED_JSON),
        pinning=pinning.describe(),
        settings={
            "warm_secs": bench.d.warm_secs,
            "sat_secs": bench.d.sat_secs,
            "fixed_secs": bench.d.fixed_secs,
            "rounds": bench.d.rounds,
            "connections": bench.d.connections,
            "workers": WORKERS,
        },
    )
    results["cache_ttl_secs"] = 30
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(results, indent=2, default=str)
    (OUT_DIR / f"bench-{stamp}.json").write_text(text)
    (OUT_DIR / "latest.json").write_text(text)
    print()
    print(report.terminal(results))
    if results["failures"]:
        print("\nfailed phases:\n  " + "\n  ".join(results["failures"]))
    if not args.no_doc:
        report.write_markdown(DOC, results)
        print(f"\nwrote {DOC.relative_to(ROOT)} and {OUT_DIR.relative_to(ROOT)}/latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
