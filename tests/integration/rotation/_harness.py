"""What the rotation tests share: a seeded team, a row lock, load, and ``tap key rotate`` as a process.

A rotation is stopped at a known point without timing: the test holds a lock
on one credential row (``RowLock``), the rotation (batch size 1, in key
order) re-seals every row before it and then waits on that one.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.crypto import KeyRing
from app.secret import Secret
from app.store import credentials, teams
from tests.support.proxy import TEST_KEY, base_env
from tests.support.tap import run_cli
from tests.support.upstream import Upstream

KEY_1 = TEST_KEY
KEY_2 = "a2" * 32
KEY_3 = "3c" * 32


def secret_of(name: str) -> str:
    return f"sk-rotation-{name}-0123456789abcdef"


def names(count: int) -> list[str]:
    return [f"c{i:03d}" for i in range(count)]


def seed(tmp: Path, database_url: str, count: int) -> str:
    """``count`` credentials sealed under KEY_1 and one agent allowed all of them; its key."""

    async def plant() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                await teams.ensure_team(conn, teams.DEFAULT_TEAM_ID, teams.DEFAULT_TEAM_ID)
                keys = KeyRing.from_master_key(bytes.fromhex(KEY_1))
                for name in names(count):
                    await credentials.create(
                        conn,
                        keys,
                        team_id=teams.DEFAULT_TEAM_ID,
                        name=name,
                        value=Secret(secret_of(name)),
                        allowed_hosts=["127.0.0.1"],
                    )
        finally:
            await conn.close()

    assert run_cli(tmp, database_url, "init").exit_code == 0
    asyncio.run(plant())
    created = run_cli(
        tmp,
        database_url,
        "agent",
        "create",
        "--name",
        "bot",
        "--credentials",
        ",".join(names(count)),
    )
    assert created.exit_code == 0, created.output
    return next(
        line.split("=", 1)[1]
        for line in created.output.splitlines()
        if line.startswith("TAP_API_KEY=")
    )


def forward(url: str, agent_key: str, name: str, upstream: Upstream, tag: str) -> httpx.Response:
    return httpx.post(
        url + "/forward",
        headers={
            "X-TAP-Key": agent_key,
            "X-TAP-Credential": name,
            "X-TAP-Target": f"{upstream.url}/{name}/{tag}",
        },
        timeout=30,
    )


def check_all(url: str, agent_key: str, count: int, upstream: Upstream, tag: str) -> None:
    """Every credential forwards, and the upstream got that credential's own secret."""
    for name in names(count):
        response = forward(url, agent_key, name, upstream, tag)
        assert response.status_code == 200, (name, response.text)
        got = next(r for r in reversed(upstream.received) if r.path == f"/{name}/{tag}")
        assert got.headers.get("Authorization") == f"Bearer {secret_of(name)}", name


def sealed_versions(database_url: str) -> dict[int, int]:
    """How many credential values are sealed under each key version."""

    async def read() -> dict[int, int]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT key_version, count(*) AS n FROM credentials"
                " WHERE sealed_value IS NOT NULL GROUP BY key_version"
            )
            return {r["key_version"]: r["n"] for r in rows}
        finally:
            await conn.close()

    return asyncio.run(read())


def key_version_rows(database_url: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT version, transfer IS NOT NULL AS has_transfer,"
                " retired_at IS NOT NULL AS retired FROM key_versions ORDER BY version"
            )
            return [dict(r) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(read())


class RowLock:
    """Holds ``FOR UPDATE`` on one credential row, from its own thread, until released."""

    def __init__(self, database_url: str, name: str) -> None:
        self._url = database_url
        self._name = name
        self._loop = asyncio.new_event_loop()
        self._held = threading.Event()
        self._release: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),))

    def __enter__(self) -> RowLock:
        self._thread.start()
        assert self._held.wait(30), "the row lock was not taken"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._release is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._release.set)
        self._thread.join(30)

    async def _run(self) -> None:
        self._release = asyncio.Event()
        conn = await asyncpg.connect(self._url)
        try:
            async with conn.transaction():
                await conn.execute(
                    "SELECT 1 FROM credentials WHERE team_id = $1 AND name = $2 FOR UPDATE",
                    teams.DEFAULT_TEAM_ID,
                    self._name,
                )
                self._held.set()
                await self._release.wait()
        finally:
            await conn.close()


@dataclass
class Rotation:
    """``tap key rotate`` running as its own process."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        out, _ = self.process.communicate(timeout=timeout)
        self.lines.extend(out.splitlines())
        return self.process.returncode, "\n".join(self.lines)


def start_rotation(
    tmp: Path, database_url: str, *, key: str, new: str | None, extra: Mapping[str, str] = {}
) -> Rotation:
    env = base_env(tmp, database_url, TAP_ENCRYPTION_KEY=key, PYTHONUNBUFFERED="1", **extra)
    if new is not None:
        env["TAP_ENCRYPTION_KEY_NEW"] = new
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tools.cli import main; main()",
            "key",
            "rotate",
            "--batch-size",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp,
    )
    return Rotation(process)


def rotate(tmp: Path, database_url: str, *, key: str, new: str | None, **extra: str) -> str:
    """Run a whole rotation; its output."""
    code, output = start_rotation(tmp, database_url, key=key, new=new, extra=extra).finish()
    assert code == 0, output
    return output


class Load:
    """Agents' requests in a loop from a thread, until stopped; every answer kept."""

    def __init__(self, url: str, agent_key: str, count: int, upstream: Upstream) -> None:
        self._args = (url, agent_key, upstream)
        self._names = names(count)
        self._stop = threading.Event()
        self.answers: list[tuple[str, int, str]] = []
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        url, agent_key, upstream = self._args
        i = 0
        while not self._stop.is_set():
            name = self._names[i % len(self._names)]
            response = forward(url, agent_key, name, upstream, f"load{i}")
            self.answers.append((name, response.status_code, response.text))
            i += 1

    def failures(self) -> list[tuple[str, int, str]]:
        return [a for a in self.answers if a[1] != 200]
