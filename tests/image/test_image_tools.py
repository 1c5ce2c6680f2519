"""`make image` and `make image-verify` fail like tools: one line that names the
fix, never a traceback, when buildah is missing or the pinned base cannot be
pulled. Runs everywhere (no real buildah needed)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import IMAGE_DIR, REPO


def _only(tmp_path: Path, *tools: str) -> str:
    """A PATH holding just ``tools`` (links to the real ones)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        real = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        if real:
            (bin_dir / tool).symlink_to(real)
    return str(bin_dir)


def _fake_buildah(tmp_path: Path) -> Path:
    """A buildah whose pull fails the way a registry outage does."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    script = bin_dir / "buildah"
    script.write_text(
        "#!/bin/sh\n"
        "echo 'Trying to pull the base...' >&2\n"
        "echo 'Error: initializing source: pinging container registry: no such host' >&2\n"
        "exit 125\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def _make(target: str, path: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-f", str(IMAGE_DIR / "image.mk"), target,
         f"IMAGE_PYTHON={sys.executable}"],
        cwd=REPO,
        env={**os.environ, "PATH": path, **env, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("target", ["image", "image-verify"])
def test_without_buildah_one_line_names_the_fix(tmp_path: Path, target: str) -> None:
    if subprocess.run(["which", "make"], capture_output=True).returncode:
        pytest.skip("make is not installed")
    result = _make(target, _only(tmp_path, "make", "git", "sh", "unshare"), tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert ours == [
        "FAIL: buildah is not installed: apt-get install buildah "
        "(or build with Docker BuildKit: make image IMAGE_BUILDER=docker)"
    ]


def test_an_unpullable_base_is_one_line_naming_the_local_base(
    tmp_path: Path, image_scripts: dict[str, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    path = f"{_fake_buildah(tmp_path)}{os.pathsep}{os.environ['PATH']}"
    os.environ["PATH"], saved = path, os.environ["PATH"]
    try:
        code = image_scripts["build"].main(["--out", str(tmp_path / "out")])
    finally:
        os.environ["PATH"] = saved
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("FAIL: cannot pull the base image python:3.11")
    assert "no such host" in lines[0]
    assert lines[0].endswith(
        "to build on the local Debian base instead: make image BASE_IMAGE=local"
    )
    assert not (tmp_path / "out" / "tap-proxy.oci.tar").exists()


def test_the_local_base_without_mmdebstrap_names_the_package(
    tmp_path: Path, image_scripts: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    local_base = image_scripts["local_base"]
    monkeypatch.setattr(local_base, "DEFAULT_OUT", tmp_path / "absent.oci.tar")
    monkeypatch.setenv("PATH", f"{_fake_buildah(tmp_path)}{os.pathsep}{_only(tmp_path, 'unshare')}")
    build = image_scripts["build"]
    with pytest.raises(
        build.BuildError, match=r"^mmdebstrap is not installed .*apt-get install mmdebstrap$"
    ):
        build.require_tools("buildah", "local")
