"""Start a real tap-proxy in HSM custody (failures are watched as in enclave mode)."""

from __future__ import annotations

from pathlib import Path

from tests.enclave._boot import STARTUP_TIMEOUT_SECS, startup_failure
from tests.enclave.hsm.conftest import SoftHsm
from tests.support.proxy import ProxyProcess, base_env, start_proxy

__all__ = ["hsm_env", "start_hsm_proxy", "startup_failure"]


def hsm_env(tmp: Path, database_url: str, hsm: SoftHsm, **extra: str) -> dict[str, str]:
    env = base_env(tmp, database_url, TAP_LOG_LEVEL="info")
    del env["TAP_ENCRYPTION_KEY"]
    env.update(hsm.env(**extra))
    return env


def start_hsm_proxy(tmp: Path, database_url: str, hsm: SoftHsm, **extra: str) -> ProxyProcess:
    return start_proxy(tmp, hsm_env(tmp, database_url, hsm, **extra), timeout=STARTUP_TIMEOUT_SECS)
