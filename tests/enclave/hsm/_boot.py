"""Start a real tap-proxy in HSM custody, and watch it fail."""

from __future__ import annotations

from pathlib import Path

from tests.enclave.hsm.conftest import SoftHsm
from tests.support.proxy import ProxyProcess, base_env, start_proxy

STARTUP_TIMEOUT_SECS = 60


def hsm_env(tmp: Path, database_url: str, hsm: SoftHsm, **extra: str) -> dict[str, str]:
    env = base_env(tmp, database_url, TAP_LOG_LEVEL="info")
    del env["TAP_ENCRYPTION_KEY"]
    env.update(hsm.env(**extra))
    return env


def start_hsm_proxy(tmp: Path, database_url: str, hsm: SoftHsm, **extra: str) -> ProxyProcess:
    return start_proxy(tmp, hsm_env(tmp, database_url, hsm, **extra), timeout=STARTUP_TIMEOUT_SECS)


def startup_failure(tmp: Path, env: dict[str, str]) -> tuple[int, str]:
    """Start tap-proxy, expect it to exit; return its exit code and output."""
    proxy = start_proxy(tmp, env, wait=False)
    try:
        code = proxy.process.wait(STARTUP_TIMEOUT_SECS)
    finally:
        proxy.stop()
    return code, proxy.log()
