"""``tap`` finds the server's data like ``make run`` does, and never makes a new database unasked.

Each case runs the installed ``tap`` script in its own process and folder, as a
person would from a shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

TAP = Path(sys.executable).parent / "tap"
PYPROJECT = '[project]\nname = "tap-proxy"\nversion = "0"\n'


def _tap(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "POSTGRES_", "DANGEROUS_"))
    }
    # NOTE: output goes to files, not pipes: the embedded Postgres that `tap` starts
    # must not hold a pipe of ours open.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        code = subprocess.run(
            [str(TAP), *args], cwd=cwd, env={**clean, **env}, stdout=out, stderr=err,
            timeout=300, check=False,
        ).returncode  # fmt: skip
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, code, out.read(), err.read())


def _error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A TAP checkout (as far as the CLI can tell) with a sub-folder to work in."""
    root = tmp_path / "tap"
    (root / "src" / "deep").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    return root


def test_a_project_without_data_gets_no_new_database(project: Path) -> None:
    line = _error_line(_tap(project / "src" / "deep", "agent", "list"))
    assert str(project / "data" / "postgres") in line
    assert f"the project at {project}" in line and "tap init" in line
    assert not (project / "data").exists()
    assert list((project / "src" / "deep").iterdir()) == []


def test_tap_data_dir_is_honoured_and_not_created(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    line = _error_line(_tap(tmp_path / "work", "credential", "list", TAP_DATA_DIR="somewhere"))
    assert str(tmp_path / "work" / "somewhere" / "postgres") in line and "TAP_DATA_DIR" in line
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.slow
def test_init_creates_what_the_server_would_and_every_folder_finds_it(project: Path) -> None:
    data = project / "data"
    created = _tap(project, "init", TAP_DATA_DIR=str(data))
    assert created.returncode == 0, created.stderr
    assert (data / "postgres" / "PG_VERSION").is_file()
    key = data / "encryption.key"
    assert key.stat().st_mode & 0o777 == 0o600

    # From a sub-folder, without TAP_DATA_DIR: the project's data folder.
    made = _tap(project / "src" / "deep", "agent", "create", "--name", "bot")
    assert made.returncode == 0, made.stderr
    assert "Created agent bot" in made.stderr and made.stdout.startswith("TAP_API_KEY=tap_")

    # Without the key the server generated, nothing is generated in its place.
    key.rename(project / "moved.key")
    line = _error_line(_tap(project, "agent", "list"))
    assert "no encryption key" in line and str(key) in line
    assert not key.exists()

    # The key from a file works as well, and init again changes nothing.
    again = _tap(project, "init", TAP_ENCRYPTION_KEY_FILE=str(project / "moved.key"))
    assert again.returncode == 0, again.stderr
    assert not key.exists()
