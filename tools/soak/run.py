"""Soak TAP: mixed traffic for a long time, sampling what must not grow.

Run from the repository root with ``make soak`` (30 minutes) or
``python -m tools.soak.run --secs 300``. It starts, all on loopback:

1. an embedded Postgres and a ``tap-proxy`` (two workers) on it, with a
   credential ``soak`` (reads run, writes to ``/write`` wait for a human) and
   an agent, made with the ``tap`` CLI;
2. an upstream with ordinary endpoints and hostile ones: a slow answer past
   the forward timeout, a gzip bomb, a connection reset, an unknown
   ``Content-Encoding``, an 11 MiB body, a redirect, and echoes of the secret;
3. a load of reads, gated writes (approved or denied with ``tap approve`` /
   ``tap deny``, then polled to the end), refusals and hostile calls, at
   ``--rps`` requests per second.

Every ``--sample-secs`` it records, over TAP's process tree: resident memory,
open file descriptors, threads, live asyncio tasks (via
``tools/soak/probe/sitecustomize.py``), and the database connections open on
TAP's database. The samples go to ``tools/soak/out/samples.csv``, the plot to
``tools/soak/out/soak.png`` (and ``docs/soak.png``), the summary to
``docs/soak.md``. The run fails (exit 1) when a request got a 5xx it should
not have, a secret came back, or a resource kept growing: the mean of the
last third of the samples against the first third after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import gzip
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import asyncpg
import httpx
from aiohttp import web

from tools.bench.processes import Service, free_port, process_tree, rss_bytes

ROOT: Final = Path(__file__).resolve().parents[2]
HERE: Final = Path(__file__).resolve().parent
OUT: Final = HERE / "out"
BIN: Final = Path(sys.executable).parent
PYDEPS: Final = HERE / ".tools" / "pydeps"
FORWARD_TIMEOUT_SECS: Final = 2
WORKERS: Final = 2
WARM_UP_SECS: Final = 60
SECRET: Final = "sk_soak_" + secrets.token_urlsafe(24)

# What "flat" means: the mean of the last third may exceed the first third
# (after warm-up) by this factor plus this absolute slack.
GROWTH: Final = {
    "rss_mib": (1.15, 8.0),
    "open_fds": (1.0, 8.0),
    "threads": (1.0, 2.0),
    "asyncio_tasks": (1.0, 10.0),
    "db_connections": (1.0, 2.0),
}


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the upstream --------------------------------------------------------------------

_BOMB: Final = gzip.compress(b"\0" * (64 * 1024 * 1024))


async def _upstream(request: web.Request) -> web.StreamResponse:
    path = request.path
    auth = request.headers.get("Authorization", "")
    if path == "/read":
        return web.json_response({"items": list(range(20)), "echo": auth})
    if path == "/write":
        return web.json_response({"written": True, "bytes": len(await request.read())})
    if path == "/gzip":
        body = gzip.compress(json.dumps({"echo": auth, "pad": "x" * 2000}).encode())
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )
    if path == "/hostile/slow":
        await asyncio.sleep(FORWARD_TIMEOUT_SECS + 1)
        return web.json_response({"late": True})
    if path == "/hostile/bomb":
        return web.Response(
            body=_BOMB, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"}
        )
    if path == "/hostile/reset":
        assert request.transport is not None
        request.transport.close()
        return web.Response()
    if path == "/hostile/zstd":
        return web.Response(
            body=b"\x28\xb5\x2f\xfd" + os.urandom(64),
            headers={"Content-Encoding": "zstd", "Content-Type": "application/octet-stream"},
        )
    if path == "/hostile/huge":
        return web.Response(body=b"a" * (11 * 1024 * 1024), content_type="text/plain")
    if path == "/hostile/redirect":
        raise web.HTTPFound("http://127.0.0.1:9/elsewhere")
    if path == "/hostile/entities":
        encoded = "".join(f"&#{ord(c)};" for c in auth.removeprefix("Bearer "))
        return web.Response(text=f"<p>{encoded}</p>", content_type="text/html")
    return web.json_response({"error": "no such path"}, status=404)


def _compression_off(response: web.StreamResponse) -> None:
    response.enable_compression = lambda *a, **k: None  # type: ignore[method-assign]


class Upstream:
    """The aiohttp upstream in its own thread and loop."""

    def __init__(self) -> None:
        self.port = free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._ready = threading.Event()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", _upstream)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def start(self) -> Upstream:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


# -- the load ------------------------------------------------------------------------


@dataclass
class Tally:
    """What the load saw, by kind of request."""

    counts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)


class Load:
    """Sends the mix at a fixed rate until ``deadline``."""

    def __init__(self, tap_url: str, key: str, upstream: str, env: dict[str, str]) -> None:
        self.tap_url = tap_url
        self.key = key
        self.upstream = upstream
        self.env = env
        self.tally = Tally()
        self.rng = random.Random(11)  # noqa: S311 -- traffic mix, not a secret
        self._writing = False
        self._pending: set[asyncio.Task[None]] = set()

    def headers(self, path: str, method: str = "GET", **extra: str) -> dict[str, str]:
        return {
            "X-TAP-Key": self.key,
            "X-TAP-Credential": "soak",
            "X-TAP-Target": self.upstream + path,
            "X-TAP-Method": method,
            **extra,
        }

    async def run(self, secs: float, rps: float) -> Tally:
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=8)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            deadline = time.monotonic() + secs
            next_at = time.monotonic()
            while time.monotonic() < deadline:
                next_at += 1 / rps
                task = asyncio.create_task(self.one(client))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if self._pending:
                await asyncio.wait(self._pending, timeout=120)
        return self.tally

    async def one(self, client: httpx.AsyncClient) -> None:
        roll = self.rng.random()
        try:
            if roll < 0.45:
                await self.read(client, self.rng.choice(["/read", "/gzip", "/hostile/entities"]))
            elif roll < 0.55 and not self._writing:
                # One decision at a time: the CLI is the slow part, and a
                # backlog of parked writes would look like growth in TAP.
                await self.gated_write(client)
            elif roll < 0.55:
                await self.read(client, "/read")
            elif roll < 0.80:
                await self.refusal(client)
            else:
                await self.hostile(client)
        except httpx.HTTPError as exc:
            self.tally.counts["client_error"] += 1
            self.tally.problem(f"client error {type(exc).__name__}")

    async def post(self, client: httpx.AsyncClient, kind: str, **kwargs: Any) -> httpx.Response:
        response = await client.post(self.tap_url + "/forward", **kwargs)
        self.tally.counts[kind] += 1
        self.tally.statuses[f"{kind} {response.status_code}"] += 1
        if SECRET in response.text:
            self.tally.problem(f"{kind}: the secret came back")
        return response

    async def read(self, client: httpx.AsyncClient, path: str) -> None:
        response = await self.post(client, "read", headers=self.headers(path))
        if response.status_code != 200 or "[REDACTED:soak]" not in response.text:
            self.tally.problem(f"read {path}: {response.status_code} {response.text[:120]}")

    async def gated_write(self, client: httpx.AsyncClient) -> None:
        self._writing = True
        try:
            await self._gated_write(client)
        finally:
            self._writing = False

    async def _gated_write(self, client: httpx.AsyncClient) -> None:
        body = json.dumps({"n": self.rng.randrange(10**6)})
        response = await self.post(
            client, "gated_write", headers=self.headers("/write", "POST"), content=body
        )
        if response.status_code != 202:
            self.tally.problem(f"gated write: {response.status_code} {response.text[:120]}")
            return
        txn = response.json()["txn_id"]
        decision = "approve" if self.rng.random() < 0.7 else "deny"
        process = await asyncio.create_subprocess_exec(
            str(BIN / "tap"),
            decision,
            txn,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await process.communicate()
        if process.returncode != 0:
            self.tally.problem(f"tap {decision}: {err.decode()[-200:]}")
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            poll = await client.get(
                self.tap_url + f"/agent/approvals/{txn}", headers={"X-TAP-Key": self.key}
            )
            status = poll.json().get("status")
            if status in ("forwarded", "denied", "error", "expired"):
                self.tally.statuses[f"approval {decision} {status}"] += 1
                if SECRET in poll.text:
                    self.tally.problem("approval poll: the secret came back")
                return
            await asyncio.sleep(0.2)
        self.tally.problem(f"approval {txn} did not finish")

    async def refusal(self, client: httpx.AsyncClient) -> None:
        cases = [
            self.headers("/read") | {"X-TAP-Key": "tap_" + "0" * 43},
            self.headers("/read") | {"X-TAP-Credential": "missing"},
            self.headers("/read") | {"X-TAP-Target": "http://169.254.169.254/latest"},
            self.headers("/read") | {"X-TAP-Target": "http://example.invalid/x"},
            self.headers("/read", "GE T"),
            self.headers("/read") | {"X-TAP-Nonsense": "1"},
        ]
        response = await self.post(client, "refusal", headers=self.rng.choice(cases))
        if not 400 <= response.status_code < 500:
            self.tally.problem(f"refusal: {response.status_code} {response.text[:120]}")

    async def hostile(self, client: httpx.AsyncClient) -> None:
        path = self.rng.choice(
            [
                "/hostile/slow",
                "/hostile/bomb",
                "/hostile/reset",
                "/hostile/zstd",
                "/hostile/huge",
                "/hostile/redirect",
            ]
        )
        response = await self.post(client, "hostile", headers=self.headers(path))
        expected = {
            "/hostile/slow": {502, 504},
            "/hostile/reset": {502},
            "/hostile/redirect": {302},
        }.get(path, {200})
        if response.status_code not in expected:
            self.tally.problem(f"hostile {path}: {response.status_code} {response.text[:120]}")


# -- sampling ------------------------------------------------------------------------


SAMPLE_FIELDS: Final = (
    "elapsed_secs",
    "rss_mib",
    "open_fds",
    "threads",
    "asyncio_tasks",
    "db_connections",
)


def _count_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _threads(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tasks(probe_dir: Path, pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            total += int((probe_dir / str(pid)).read_text())
    return total


async def sample(
    root_pid: int, probe_dir: Path, database_url: str, started: float
) -> dict[str, float]:
    pids = process_tree(root_pid)
    conn = await asyncpg.connect(database_url)
    try:
        db_connections = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {
        "elapsed_secs": round(time.monotonic() - started, 1),
        "rss_mib": round(sum(rss_bytes(p) for p in pids) / 2**20, 1),
        "open_fds": sum(_count_fds(p) for p in pids),
        "threads": sum(_threads(p) for p in pids),
        "asyncio_tasks": _tasks(probe_dir, pids),
        "db_connections": int(db_connections),
    }


async def sampler(
    root_pid: int,
    probe_dir: Path,
    database_url: str,
    every: float,
    stop: asyncio.Event,
    rows: list[dict[str, float]],
) -> None:
    started = time.monotonic()
    while not stop.is_set():
        rows.append(await sample(root_pid, probe_dir, database_url, started))
        log("sample " + " ".join(f"{k}={v}" for k, v in rows[-1].items()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


def verdict(rows: list[dict[str, float]]) -> dict[str, dict[str, float | bool]]:
    """First third (after warm-up) against last third, per resource."""
    steady = [r for r in rows if r["elapsed_secs"] >= WARM_UP_SECS] or rows
    third = max(1, len(steady) // 3)
    out: dict[str, dict[str, float | bool]] = {}
    for name, (factor, slack) in GROWTH.items():
        first = sum(r[name] for r in steady[:third]) / third
        last = sum(r[name] for r in steady[-third:]) / third
        out[name] = {
            "first": round(first, 1),
            "last": round(last, 1),
            "max": max(r[name] for r in rows),
            "flat": last <= first * factor + slack,
        }
    return out


# -- reporting -----------------------------------------------------------------------


def plot(csv_path: Path, png_path: Path) -> bool:
    """Draw the samples with matplotlib from its own directory; False when it is missing."""
    env = dict(os.environ, PYTHONPATH=str(PYDEPS), MPLBACKEND="Agg", MPLCONFIGDIR=str(OUT / "mpl"))
    done = subprocess.run(  # noqa: S603 -- our own plotting module
        [sys.executable, "-m", "tools.soak.plot", str(csv_path), str(png_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        log(f"no plot: {done.stderr.strip()[-300:]}")
    return done.returncode == 0


def write_doc(
    secs: float, rps: float, tally: Tally, flat: dict[str, dict[str, float | bool]], has_png: bool
) -> None:
    lines = [
        "# Soak test",
        "",
        "`make soak` runs mixed traffic against a real `tap-proxy` on loopback and samples,",
        "every 10 s, what must not grow: resident memory, open file descriptors, threads and",
        "live asyncio tasks over TAP's process tree, and the connections open on its database.",
        "See `tools/soak/run.py` for the mix and for what counts as flat. Not part of CI.",
        "",
        f"Latest run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, **{secs / 60:g} minutes** at"
        f" {rps:g} requests/s, `TAP_WORKERS={WORKERS}`, forward timeout {FORWARD_TIMEOUT_SECS} s,"
        f" on {os.cpu_count()} shared cores.",
        "",
        "| resource | first third | last third | max | flat |",
        "|---|---|---|---|---|",
    ]
    for name, row in flat.items():
        lines.append(
            f"| {name} | {row['first']} | {row['last']} | {row['max']} |"
            f" {'yes' if row['flat'] else '**no**'} |"
        )
    lines += ["", "| requests | count |", "|---|---|"]
    lines += [f"| {kind} | {count} |" for kind, count in sorted(tally.counts.items())]
    lines += ["", "| outcome | count |", "|---|---|"]
    lines += [f"| {kind} | {count} |" for kind, count in sorted(tally.statuses.items())]
    lines += ["", "Problems: " + ("none." if not tally.problems else "")]
    lines += [f"- {p}" for p in tally.problems]
    if has_png:
        lines += ["", "![resources over time](soak.png)"]
    (ROOT / "docs" / "soak.md").write_text("\n".join(lines) + "\n")


# -- main ----------------------------------------------------------------------------


def _tap_env(work: Path, database_url: str, master_key: str, probe_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_", "DANGEROUS_TAP_", "POSTGRES_"))
    }
    env.update(
        POSTGRES_DATABASE_URL=database_url,
        TAP_ENCRYPTION_KEY=master_key,
        TAP_DATA_DIR=str(work / "data"),
        TAP_WORKERS=str(WORKERS),
        TAP_AUDIT_LOG=str(work / "audit.jsonl"),
        TAP_FORWARD_TIMEOUT_SECS=str(FORWARD_TIMEOUT_SECS),
        DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS="1",
        TAP_SOAK_PROBE_DIR=str(probe_dir),
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(HERE / "probe"), os.environ.get("PYTHONPATH")])
        ),
    )
    return env


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(  # noqa: S603 -- our own CLI
        [str(BIN / "tap"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tap {args[0]} failed: {done.stderr.strip()[-400:]}")
    return done.stdout


async def soak(secs: float, rps: float, sample_secs: float) -> int:
    from app.store import db

    OUT.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tap-soak-"))
    probe_dir = work / "probe"
    probe_dir.mkdir()
    embedded = None
    tap: Service | None = None
    upstream = Upstream().start()
    try:
        log("starting Postgres, the upstream and tap-proxy")
        embedded = db.start_embedded(work / "pg")
        env = _tap_env(work, embedded.url, secrets.token_hex(32), probe_dir)
        _cli(env, "add", "--name", "soak", "--value-file", "-", "--allowed-host", "127.0.0.1",
             "--header-format", "Bearer {value}", stdin=SECRET)  # fmt: skip
        _cli(env, "policy", "set", "soak", "--auto-approve-methods", "GET",
             "--require-approval-urls", "/write")  # fmt: skip
        out = _cli(env, "agent", "create", "--name", "soak", "--credentials", "soak")
        key = next(x.split("=", 1)[1] for x in out.splitlines() if x.startswith("TAP_API_KEY="))
        port = free_port()
        tap = Service.start(
            "tap-proxy",
            [str(BIN / "tap-proxy")],
            log_dir=work,
            env=env | {"TAP_LISTEN_ADDR": f"127.0.0.1:{port}"},
            cwd=ROOT,
        )
        tap.wait_http(f"http://127.0.0.1:{port}/health")
        log(f"soaking for {secs:g} s at {rps:g} requests/s")
        rows: list[dict[str, float]] = []
        stop = asyncio.Event()
        sampling = asyncio.create_task(
            sampler(tap.pid, probe_dir, embedded.url, sample_secs, stop, rows)
        )
        load = Load(f"http://127.0.0.1:{port}", key, f"http://127.0.0.1:{upstream.port}", env)
        tally = await load.run(secs, rps)
        stop.set()
        await sampling
        rows.append(await sample(tap.pid, probe_dir, embedded.url, time.monotonic() - secs))
    finally:
        if tap is not None:
            tap.stop()
        upstream.stop()
        if embedded is not None:
            with contextlib.suppress(Exception):
                embedded.stop()
        shutil.rmtree(work, ignore_errors=True)

    csv_path = OUT / "samples.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SAMPLE_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    has_png = plot(csv_path, OUT / "soak.png")
    if has_png:
        shutil.copyfile(OUT / "soak.png", ROOT / "docs" / "soak.png")
    flat = verdict(rows)
    write_doc(secs, rps, tally, flat, has_png)
    log(f"requests: {dict(tally.counts)}; problems: {len(tally.problems)}")
    for name, row in flat.items():
        log(f"{name}: {row}")
    ok = not tally.problems and all(row["flat"] for row in flat.values())
    log("flat and clean" if ok else "NOT flat or not clean: see docs/soak.md")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secs", type=float, default=float(os.environ.get("SOAK_SECS", 1800)))
    parser.add_argument("--rps", type=float, default=float(os.environ.get("SOAK_RPS", 20)))
    parser.add_argument("--sample-secs", type=float, default=10.0)
    args = parser.parse_args(argv)
    return asyncio.run(soak(args.secs, args.rps, args.sample_secs))


if __name__ == "__main__":
    sys.exit(main())
