"""The lock files match pyproject.toml and pin every file by hash."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from .conftest import IMAGE_DIR

PIN = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._-]*)==(?P<version>\S+)", re.MULTILINE)


def _pins(lock: Path) -> dict[str, str]:
    return {m["name"]: m["version"] for m in PIN.finditer(lock.read_text(encoding="utf-8"))}


def _entries(lock: Path) -> list[str]:
    body = "\n".join(
        line for line in lock.read_text(encoding="utf-8").splitlines() if not line.startswith("#")
    )
    return [e for e in body.replace("\\\n", " ").splitlines() if e.strip()]


@pytest.fixture(scope="module")
def lock(image_scripts: dict[str, ModuleType]) -> ModuleType:
    return image_scripts["lock"]


def test_every_lock_was_made_from_the_current_pyproject(lock: ModuleType) -> None:
    for spec in lock.lock_specs():
        assert spec.path.exists(), f"missing {spec.path.name}: run python3 image/lock.py"
        assert lock.recorded_digest(spec.path) == lock.inputs_digest(spec.requirements), (
            f"{spec.path.name} is stale: pyproject.toml changed; run python3 image/lock.py"
        )


def test_every_direct_dependency_is_pinned_within_its_range(lock: ModuleType) -> None:
    environment = dict(default_environment(), sys_platform="linux", platform_system="Linux")
    for spec in lock.lock_specs():
        pins = _pins(spec.path)
        for text in spec.requirements:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            name = re.sub(r"[-_.]+", "-", requirement.name).lower()
            assert name in pins, f"{spec.path.name} does not pin {name}"
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"{spec.path.name}: {name}=={pins[name]} is outside {requirement.specifier}"
            )


def test_every_pin_carries_one_or_two_wheel_hashes(lock: ModuleType) -> None:
    for spec in lock.lock_specs():
        entries = _entries(spec.path)
        assert entries
        for entry in entries:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", entry)
            # One per architecture, or one for a pure-Python wheel.
            assert 1 <= len(hashes) <= len(lock.ARCHITECTURES), entry


def test_enclave_lock_is_the_runtime_lock_plus_the_extra(lock: ModuleType) -> None:
    runtime = _pins(IMAGE_DIR / "requirements.lock")
    enclave = _pins(IMAGE_DIR / "requirements-enclave.lock")
    assert set(runtime) < set(enclave)
    assert {"azure-identity", "azure-keyvault-keys"} <= set(enclave)


def test_inputs_digest_ignores_order(lock: ModuleType) -> None:
    assert lock.inputs_digest(("a>=1", "b")) == lock.inputs_digest(("b", "a>=1"))
    assert lock.inputs_digest(("a>=1",)) != lock.inputs_digest(("a>=2",))


def test_the_containerfile_installs_only_with_hashes() -> None:
    text = (IMAGE_DIR.parent / "Containerfile").read_text(encoding="utf-8")
    installs = re.findall(r"pip (?:--python \S+ )?(?:install|download)[^;]*", text)
    assert installs
    for command in installs:
        assert "--require-hashes" in command or "--no-deps" in command, command
