"""Build a minimal Debian 12 + Python base image from Debian's own packages.

The real image builds on a base pinned by digest in a registry. Where no
registry is reachable (CI, an air-gapped review machine) this makes a
stand-in: ``mmdebstrap`` installs the essential set plus ``python3``,
``python3-venv`` and ``ca-certificates`` from the machine's apt sources, and
the root filesystem becomes a one-layer OCI archive usable as
``BASE_IMAGE=oci-archive:<path>``.

Only the images built *on* this base are compared for reproducibility; the
base itself is built once and reused. ``SOURCE_DATE_EPOCH`` is fixed so that
two runs against the same mirror state give the same base as well.

Usage::

    python3 image/local_base.py [--out image/out/base/debian12-python.oci.tar]
                                [--sources FILE] [--force]

Needs root (or mmdebstrap's unshare mode) and the Debian packages
``mmdebstrap`` and ``python3``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import oci  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "image" / "out" / "base" / "debian12-python.oci.tar"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
#: Fixed so the base's own timestamps do not change from run to run.
BASE_EPOCH = 1700000000
SOURCES_CANDIDATES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
#: Documentation and translations are not needed to run Python.
PATH_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")


def default_sources() -> Path | None:
    """Return the machine's apt sources file, so the base uses its mirror."""
    return next((p for p in SOURCES_CANDIDATES if p.is_file()), None)


def architecture() -> str:
    """Return the Debian architecture of this machine (``amd64``, ``arm64``)."""
    return subprocess.run(
        ["dpkg", "--print-architecture"],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def build(out: Path, sources: Path | None) -> str:
    """Run mmdebstrap and write the OCI archive; return its manifest digest.

    Raises ``subprocess.CalledProcessError`` when mmdebstrap fails.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        cmd = [
            "mmdebstrap", "--variant=essential", "--include=" + ",".join(PACKAGES),
            "--aptopt=Acquire::Check-Valid-Until \"false\"",
            "--skip=output/mknod", "--format=tar",
            # NOTE: the archive cache and lists are not part of a runtime image.
            "--customize-hook=rm -rf \"$1\"/var/cache/apt/* \"$1\"/var/lib/apt/lists/*",
        ]  # fmt: skip
        cmd += [f"--dpkgopt=path-exclude={p}" for p in PATH_EXCLUDES]
        cmd += ["bookworm", str(rootfs)]
        if sources is not None:
            cmd.append(str(sources))
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(BASE_EPOCH))
        subprocess.run(cmd, check=True, env=env)  # noqa: S603
        return oci.write_single_layer(
            rootfs,
            out,
            architecture=architecture(),
            created="2023-11-14T22:13:20Z",
            env=[
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
            ],
            cmd=["/bin/sh"],
        )


def main(argv: list[str] | None = None) -> int:
    """Build the base unless it already exists; print its path and digest."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--sources", type=Path, default=default_sources())
    parser.add_argument("--force", action="store_true", help="rebuild even if it exists")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if out.exists() and not args.force:
        digest = oci.OciArchive.open(out).manifest_digest
    else:
        digest = build(out, args.sources)
    print(f"{out} {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
