"""Write the image's hash-pinned lock files from ``pyproject.toml``.

The image installs Python packages only from these files, with
``pip install --require-hashes``. Each line pins one version and lists the
sha256 of exactly one wheel per target architecture, so the set of files that
can end up in the image is fixed here, not by whichever wheel a pip version
happens to prefer on the day of the build.

Three locks are written:

``image/requirements.lock``
    ``[project].dependencies`` (what every image runs).
``image/requirements-enclave.lock``
    the same plus the ``enclave`` extra, resolved together.
``image/requirements-build.lock``
    ``[build-system].requires`` (used only in the build stage to make TAP's
    own wheel; never shipped).

Each file starts with a header holding the sha256 of the requirement list it
was resolved from; ``tests/unit/image/test_lock.py`` recomputes it from
``pyproject.toml`` and fails when someone edits the dependencies without
running this script again.

Usage (needs access to the package index; run from anywhere)::

    python3 image/lock.py            # rewrite all three locks
    python3 image/lock.py --check    # exit 1 if pyproject.toml changed since

Resolution uses the running ``pip`` with ``install --dry-run --report``, for
CPython 3.11 on manylinux (glibc up to 2.36, the Debian 12 base), binary
wheels only, once per architecture; versions must agree across
architectures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = REPO / "pyproject.toml"

#: The interpreter the base image ships (Debian 12 and the pinned slim base).
PYTHON_VERSION = "3.11"
#: glibc of Debian 12; wheels built for a newer glibc would not load.
GLIBC_MAX_MINOR = 36
ARCHITECTURES = ("x86_64", "aarch64")

INPUTS_PREFIX = "# inputs-sha256: "


@dataclass(frozen=True, slots=True)
class LockSpec:
    """One lock file and the requirement list it is resolved from."""

    path: Path
    title: str
    requirements: tuple[str, ...]


def _platform_tags(arch: str) -> list[str]:
    """Return the manylinux tags a Debian 12 pip accepts, best first."""
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MAX_MINOR, 16, -1)]
    tags.append(f"manylinux2014_{arch}")
    if arch == "x86_64":
        tags += [f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    return tags


def lock_specs(pyproject: Path = PYPROJECT) -> list[LockSpec]:
    """Read ``pyproject.toml`` and return the three locks to write.

    Raises ``KeyError`` when the file lacks a section this build relies on.
    """
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    runtime = tuple(data["project"]["dependencies"])
    enclave = tuple(data["project"]["optional-dependencies"]["enclave"])
    build = tuple(data["build-system"]["requires"])
    here = REPO / "image"
    return [
        LockSpec(here / "requirements.lock", "runtime dependencies", runtime),
        LockSpec(
            here / "requirements-enclave.lock",
            "runtime dependencies plus the enclave extra",
            runtime + enclave,
        ),
        LockSpec(here / "requirements-build.lock", "build-system requirements", build),
    ]


def inputs_digest(requirements: tuple[str, ...]) -> str:
    """Return the sha256 of a requirement list, independent of its order."""
    canonical = "\n".join(sorted(r.strip() for r in requirements)) + "\n"
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def recorded_digest(lock: Path) -> str | None:
    """Return the inputs digest written in a lock's header, if any."""
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(INPUTS_PREFIX):
            return line[len(INPUTS_PREFIX) :].strip()
    return None


def _resolve(requirements: tuple[str, ...], arch: str) -> dict[str, tuple[str, str]]:
    """Resolve for one architecture; return ``{name: (version, wheel sha256)}``.

    Raises ``subprocess.CalledProcessError`` when pip cannot resolve.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
            "--ignore-installed", "--only-binary=:all:",
            "--python-version", PYTHON_VERSION, "--implementation", "cp",
            "--abi", "cp" + PYTHON_VERSION.replace(".", ""),
            "--target", str(Path(tmp) / "target"), "--report", str(report),
        ]  # fmt: skip
        for tag in _platform_tags(arch):
            cmd += ["--platform", tag]
        subprocess.run([*cmd, *requirements], check=True)  # noqa: S603
        items = json.loads(report.read_text(encoding="utf-8"))["install"]
    pins: dict[str, tuple[str, str]] = {}
    for item in items:
        name = item["metadata"]["name"].lower().replace("_", "-")
        digest = item["download_info"]["archive_info"]["hashes"]["sha256"]
        pins[name] = (item["metadata"]["version"], digest)
    return pins


def render(spec: LockSpec) -> str:
    """Resolve ``spec`` for every architecture and return the lock text.

    Raises ``RuntimeError`` when the architectures resolve to different
    versions (the lock could then not describe one image for both).
    """
    per_arch = {arch: _resolve(spec.requirements, arch) for arch in ARCHITECTURES}
    names = sorted(set().union(*per_arch.values()))
    lines = [
        f"# TAP image lock: {spec.title}.",
        "# Generated by `python3 image/lock.py` from pyproject.toml; do not edit.",
        f"# Target: CPython {PYTHON_VERSION}, manylinux glibc <= 2.{GLIBC_MAX_MINOR}, "
        f"{' + '.join(ARCHITECTURES)}, wheels only, one wheel per architecture.",
        f"{INPUTS_PREFIX}{inputs_digest(spec.requirements)}",
    ]
    for name in names:
        versions = {arch: pins[name][0] for arch, pins in per_arch.items() if name in pins}
        if len(set(versions.values())) != 1 or len(versions) != len(ARCHITECTURES):
            raise RuntimeError(f"{name}: architectures disagree: {versions}")
        digests = sorted({per_arch[arch][name][1] for arch in ARCHITECTURES})
        entry = [f"{name}=={next(iter(versions.values()))}"]
        entry += [f"    --hash=sha256:{d}" for d in digests]
        lines.append(" \\\n".join(entry))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the locks, or with ``--check`` report stale ones (exit 1)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    stale = 0
    for spec in lock_specs():
        fresh = spec.path.exists() and recorded_digest(spec.path) == inputs_digest(
            spec.requirements
        )
        if args.check:
            print(f"{'OK  ' if fresh else 'FAIL'} {spec.path.relative_to(REPO)}")
            stale += not fresh
            continue
        spec.path.write_text(render(spec), encoding="utf-8")
        print(f"wrote {spec.path.relative_to(REPO)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
