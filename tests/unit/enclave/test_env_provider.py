from __future__ import annotations

import asyncio
import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest

import enclave
from app.config import Config
from enclave import CustodyError, EnvKeyProvider, KeyFileError, load_key_provider

KEY = "cd" * 32


class _NoStore:
    async def get_wrapped_key(self) -> bytes | None:
        raise AssertionError("the env provider must not touch the wrapped-key store")

    async def insert_wrapped_key_once(self, wrapped: bytes, *, origin: str) -> bytes:
        raise AssertionError

    async def has_sealed_data(self) -> bool:
        raise AssertionError


def _master_key(config: Config) -> bytes:
    return asyncio.run(load_key_provider(config).master_key(_NoStore()))


def test_exports_are_exact_and_sorted() -> None:
    assert enclave.__all__ == sorted(enclave.__all__)
    # Subpackages (errors, and azure once enclave mode loaded it) are not exports.
    public = {
        n
        for n in dir(enclave)
        if not n.startswith("_") and not isinstance(getattr(enclave, n), types.ModuleType)
    } - {"annotations"}
    assert public == set(enclave.__all__)


def test_key_from_environment() -> None:
    assert _master_key(Config.from_env({"TAP_ENCRYPTION_KEY": KEY})) == bytes.fromhex(KEY)


def test_key_from_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    assert _master_key(Config.from_env({"TAP_ENCRYPTION_KEY_FILE": str(path)})) == bytes.fromhex(
        KEY
    )


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("a1b", "64 hex"),
        ("xy" * 32, "non-hex"),
        ("", "64 hex"),
    ],
    ids=["short", "non-hex", "empty"],
)
def test_bad_key_file(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "key"
    path.write_text(content)
    with pytest.raises(KeyFileError) as info:
        _master_key(Config.from_env({"TAP_ENCRYPTION_KEY_FILE": str(path)}))
    assert fragment in str(info.value)
    if content:
        assert content not in str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        _master_key(Config.from_env({"TAP_ENCRYPTION_KEY_FILE": str(tmp_path / "absent")}))


def test_local_key_is_generated_once_with_mode_0600(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = Config.from_env({"TAP_DATA_DIR": str(tmp_path)})
    first = _master_key(config)
    path = tmp_path / "encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "local use only" in caplog.text
    assert _master_key(config) == first


def test_no_key_with_external_database_is_refused() -> None:
    config = Config.from_env({"POSTGRES_DATABASE_URL": "postgres://u@db.example/tap"})
    with pytest.raises(CustodyError, match="TAP_ENCRYPTION_KEY"):
        _master_key(config)


def test_provider_name() -> None:
    assert isinstance(
        load_key_provider(Config.from_env({"TAP_ENCRYPTION_KEY": KEY})), EnvKeyProvider
    )


def test_default_build_never_imports_azure() -> None:
    code = (
        "import sys, app.web, app.server, tools.cli, enclave;"
        "from app.config import Config;"
        "enclave.load_key_provider(Config.from_env({'TAP_ENCRYPTION_KEY': '" + KEY + "'}));"
        "bad = [m for m in sys.modules if m.startswith(('azure', 'enclave.azure'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
