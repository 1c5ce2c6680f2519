"""A running TAP for integration tests: the proxy process plus the CLI on its database."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from click.testing import CliRunner, Result

from app.approvals.executor import Executor
from app.config import Config
from app.crypto import KeyRing
from app.runtime import open_runtime
from app.secret import Secret
from app.store import credentials, teams
from tests.support.proxy import TEST_KEY, ProxyProcess, base_env, start_proxy
from tests.support.waiting import wait_for
from tools.cli import main as cli_main


def run_cli(
    tmp: Path,
    database_url: str,
    *args: str,
    input: str | None = None,
    key: str = TEST_KEY,
    env: dict[str, str] | None = None,
) -> Result:
    """Run the ``tap`` CLI on ``database_url`` (no proxy process needed); ``env`` adds settings."""
    env = {
        "POSTGRES_DATABASE_URL": database_url,
        "TAP_ENCRYPTION_KEY": key,
        "TAP_AUDIT_LOG": str(tmp / "audit.jsonl"),
        **(env or {}),
    }
    return CliRunner().invoke(cli_main, list(args), input=input, env=env, catch_exceptions=False)


@dataclass
class Tap:
    tmp: Path
    database_url: str
    proxy: ProxyProcess

    @property
    def url(self) -> str:
        return self.proxy.url

    def cli(self, *args: str, input: str | None = None, key: str = TEST_KEY) -> Result:
        return run_cli(self.tmp, self.database_url, *args, input=input, key=key)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self.cli(*args, input=input)
        assert result.exit_code == 0, result.output
        return result.output

    def add_credential(self, name: str, value: str, *extra: str) -> None:
        self.ok(
            "add",
            "--name",
            name,
            "--description",
            f"{name} api",
            "--value-file",
            "-",
            *extra,
            input=value,
        )

    def plant_open_credential(self, name: str, value: str) -> None:
        """A credential without allowed hosts, written straight to the store.

        No surface creates one (the API and the CLI require allowed hosts); tests
        that prove the SSRF guard holds on its own plant it.
        """

        async def plant() -> None:
            conn = await asyncpg.connect(self.database_url)
            try:
                async with conn.transaction():
                    await teams.ensure_team(conn, teams.DEFAULT_TEAM_ID, teams.DEFAULT_TEAM_ID)
                    await credentials.create(
                        conn,
                        KeyRing.from_master_key(bytes.fromhex(TEST_KEY)),
                        team_id=teams.DEFAULT_TEAM_ID,
                        name=name,
                        value=Secret(value),
                    )
            finally:
                await conn.close()

        asyncio.run(plant())

    def agent(self, name: str, *extra: str) -> str:
        output = self.ok("agent", "create", "--name", name, *extra)
        match = re.search(r"^TAP_API_KEY=(\S+)$", output, re.M)
        assert match, output
        return match.group(1)

    def forward(
        self,
        key: str | None,
        credential: str | None,
        target: str,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        h: dict[str, str] = {"X-TAP-Target": target}
        if key is not None:
            h["X-TAP-Key"] = key
        if credential is not None:
            h["X-TAP-Credential"] = credential
        if method is not None:
            h["X-TAP-Method"] = method
        h.update(headers or {})
        return httpx.post(self.url + "/forward", headers=h, content=content, timeout=30, **kwargs)

    def logs(self, key: str, at_least: int, limit: int = 20, timeout: float = 5) -> dict[str, Any]:
        """The agent's audit log once it holds ``at_least`` entries (records are written in batches)."""
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = self.get(f"/agent/logs?limit={limit}", key).json()
            if body["count"] >= at_least or time.monotonic() > deadline:
                return body
            time.sleep(0.05)

    def poll(self, key: str, poll_url: str, until: set[str], timeout: float = 30) -> dict[str, Any]:
        """What the agent's poll of a parked request answers once its status is in ``until``."""
        answer: dict[str, Any] = wait_for(
            lambda: self.get(poll_url, key).json(),
            lambda body: body.get("status") in until,
            timeout=timeout,
        )
        return answer

    def sweep_executor(self) -> None:
        """Run one approval-executor sweep here and wait for all it started.

        Tests that assert nothing else happened drive a sweep themselves
        instead of sleeping through the proxy's.
        """

        async def sweep() -> None:
            config = Config.from_env(base_env(self.tmp, self.database_url))
            rt = await open_runtime(config, self.database_url)
            try:
                await rt.start_serving()
                executor = Executor(rt)
                await executor.sweep_once(cleanup=True)
                await executor.settle()
            finally:
                await rt.close()

        asyncio.run(sweep())

    def get(self, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"X-TAP-Key": key} if key else {}
        return httpx.get(self.url + path, headers=headers, timeout=30, **kwargs)


def start_tap(tmp: Path, database_url: str, **env: str) -> Tap:
    proxy = start_proxy(tmp, base_env(tmp, database_url, **env))
    return Tap(tmp=tmp, database_url=database_url, proxy=proxy)
