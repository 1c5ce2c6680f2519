"""A SoftHSM2 token in a temp directory, for HSM custody tests.

``softhsm`` writes a SoftHSM2 config whose token directory is under the test's
temp directory, points ``SOFTHSM2_CONF`` at it (for this process and every
tap-proxy it starts), and initialises one token with ``softhsm2-util``. The
wrapping key is not created: tests do that with ``tap enclave hsm-init``.
Without SoftHSM2 (Debian: ``apt-get install softhsm2``) or python-pkcs11 the
tests skip, saying which is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tools.cli import main as cli_main

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
TOKEN_LABEL = "tap-test"
KEY_LABEL = "tap-kek"
USER_PIN = "246813"
SO_PIN = "97531864"


def _softhsm_module() -> Path | None:
    override = os.environ.get("SOFTHSM2_MODULE")
    candidates = (override, *MODULE_CANDIDATES) if override else MODULE_CANDIDATES
    return next((Path(c) for c in candidates if Path(c).is_file()), None)


@dataclass
class SoftHsm:
    module: Path
    conf: Path
    pin_file: Path
    token_label: str = TOKEN_LABEL
    key_label: str = KEY_LABEL

    def env(self, **extra: str) -> dict[str, str]:
        """The TAP_PKCS11_* settings of this token (and SOFTHSM2_CONF)."""
        env = {
            "SOFTHSM2_CONF": str(self.conf),
            "TAP_PKCS11_MODULE": str(self.module),
            "TAP_PKCS11_TOKEN_LABEL": self.token_label,
            "TAP_PKCS11_KEY_LABEL": self.key_label,
            "TAP_PKCS11_PIN_FILE": str(self.pin_file),
        }
        env.update(extra)
        return env

    def init_token(self, label: str) -> None:
        subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                USER_PIN,
                "--so-pin",
                SO_PIN,
            ],
            env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
            check=True,
            capture_output=True,
        )

    def cli(self, *args: str, database_url: str, input: str | None = None, **extra: str) -> Result:
        """Run ``tap`` in HSM mode on ``database_url``."""
        env = {"POSTGRES_DATABASE_URL": database_url, **self.env(**extra)}
        return CliRunner().invoke(
            cli_main, list(args), input=input, env=env, catch_exceptions=False
        )

    def init_key(self, database_url: str) -> None:
        result = self.cli("enclave", "hsm-init", database_url=database_url)
        assert result.exit_code == 0, result.output


@pytest.fixture
def softhsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SoftHsm]:
    pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed (pip install '.[hsm]')")
    module = _softhsm_module()
    if module is None or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 is not installed (Debian: apt-get install softhsm2)")
    root = tmp_path / "softhsm"
    tokens = root / "tokens"
    tokens.mkdir(parents=True)
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    pin_file = root / "pin"
    pin_file.write_text(USER_PIN + "\n")
    pin_file.chmod(0o600)
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    hsm = SoftHsm(module=module, conf=conf, pin_file=pin_file)
    hsm.init_token(TOKEN_LABEL)
    yield hsm
