"""Start a real ``tap-proxy`` on loopback as a subprocess.

The server is TAP's default (Uvicorn) unless the test run sets
``TAP_TEST_SERVER=hypercorn`` (``make test`` runs the suites that start
tap-proxy for the proxy and the server a second time that way). It is
read once at import, before the autouse fixture clears every ``TAP_*``
variable from the environment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.config import SERVERS

TEST_KEY = "5f" * 32
TEST_SERVER = os.environ.get("TAP_TEST_SERVER") or SERVERS[0]
if TEST_SERVER not in SERVERS:
    raise RuntimeError(f"TAP_TEST_SERVER: expected one of {', '.join(SERVERS)}, got {TEST_SERVER!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(tmp: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """A clean environment for a tap process: no TAP_* from the outside world."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_", "DANGEROUS_TAP_", "POSTGRES_"))
    }
    env.update(
        {
            "TAP_ENCRYPTION_KEY": TEST_KEY,
            "TAP_WORKERS": "1",
            "TAP_SERVER": TEST_SERVER,
            "TAP_DATA_DIR": str(tmp / "data"),
            "TAP_AUDIT_LOG": str(tmp / "audit.jsonl"),
            "DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS": "1",
            "TAP_LOG_LEVEL": "warning",
        }
    )
    if database_url is not None:
        env["POSTGRES_DATABASE_URL"] = database_url
    env.update(extra)
    return env


@dataclass
class ProxyProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_proxy(
    tmp: Path,
    env: Mapping[str, str],
    *,
    wait: bool = True,
    timeout: float = 30,
    name: str = "proxy",
    port: int | None = None,
) -> ProxyProcess:
    port = port or free_port()
    full_env = dict(env)
    full_env["TAP_LISTEN_ADDR"] = f"127.0.0.1:{port}"
    log_path = tmp / f"{name}-{port}.log"
    handle = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from app.server import main; main()"],
        env=full_env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    proxy = ProxyProcess(
        url=f"http://127.0.0.1:{port}", process=process, log_path=log_path, env=full_env
    )
    if wait:
        wait_healthy(proxy, timeout)
    return proxy


def wait_healthy(proxy: ProxyProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            raise RuntimeError(f"tap-proxy exited with {proxy.process.returncode}:\n{proxy.log()}")
        try:
            if httpx.get(proxy.url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proxy.stop()
    raise RuntimeError(f"tap-proxy did not become healthy:\n{proxy.log()}")
