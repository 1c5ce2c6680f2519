"""Build TAP's image reproducibly and write it to ``image/out/``.

The steps, each a function below:

1. (1) Snapshot the source: the files of a commit (``--commit``, through
   ``git archive``) or of the working tree (tracked and untracked files git
   does not ignore), copied with normalised permissions so a umask or a
   checkout tool cannot change the image.
2. (2) Pin time and identity: ``SOURCE_DATE_EPOCH`` is the commit time (or the
   environment's value), ``GIT_SHA`` the commit (``-dirty`` when the working
   tree differs from it).
3. (3) Fetch the locked wheels on this machine, check each one's sha256
   against the lock, and put them in the snapshot, so the build itself runs
   with no network at all.
4. (4) Build with buildah in storage of its own (``--timestamp``,
   ``--omit-history``, ``--identity-label=false``, ``--network none``), or
   with Docker BuildKit (``--builder docker``), which gets
   ``SOURCE_DATE_EPOCH`` and ``rewrite-timestamp=true``.
5. (5) Export an OCI archive and write its manifest digest, config digest and
   a ``build.json`` summary; print them with the image's size.

Before step (1) the tools the build needs are looked up, and right after it
the base image is pulled, so a machine without buildah or without access to
the pinned base fails in a second with one line that names the fix, not
after the wheels were fetched and not with a traceback.

Usage::

    python3 image/build.py [--commit REV] [--features enclave]
                           [--base-image REF] [--out image/out] [--builder buildah]

``--base-image`` overrides the Containerfile's pinned base, e.g.
``oci-archive:image/out/base/debian12-python.oci.tar`` from
``image/local_base.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import oci  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
IMAGE_NAME = "tap-proxy"
ARCHIVE_NAME = "tap-proxy.oci.tar"
WHEEL_CACHE = REPO / "image" / "out" / "wheel-cache"


class BuildError(Exception):
    """The image could not be built; the message says which step failed."""


#: The tools each builder runs, and the line that says how to get each one.
_TOOLS = {
    "buildah": {
        "buildah": "buildah is not installed: apt-get install buildah "
        "(or build with Docker BuildKit: make image IMAGE_BUILDER=docker)",
        "unshare": "unshare is not installed: apt-get install util-linux",
    },
    "docker": {
        "docker": "docker is not installed: install Docker with BuildKit "
        "(or build with buildah: apt-get install buildah)",
    },
}
_MMDEBSTRAP_MISSING = (
    "mmdebstrap is not installed (BASE_IMAGE=local builds the base with it): "
    "apt-get install mmdebstrap"
)


def require_tools(builder: str, base_image: str | None) -> None:
    """Raise ``BuildError`` naming the fix when a tool this build runs is missing."""
    if builder not in _TOOLS:
        raise BuildError(f"unknown builder {builder!r} (buildah or docker)")
    for tool, fix in _TOOLS[builder].items():
        if shutil.which(tool) is None:
            raise BuildError(fix)
    if base_image == "local" and shutil.which("mmdebstrap") is None:
        import local_base  # noqa: PLC0415 -- a sibling script, not a package

        if not local_base.DEFAULT_OUT.exists():
            raise BuildError(_MMDEBSTRAP_MISSING)


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What one build produced, as written to ``build.json``."""

    archive: str
    manifest_digest: str
    config_digest: str
    size_bytes: int
    git_sha: str
    source_date_epoch: int
    features: str
    base_image: str
    builder: str


def _git(args: list[str], cwd: Path) -> str:
    done = subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607 -- git from PATH, like a developer runs it
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _has_head(repo: Path) -> bool:
    try:
        _git(["rev-parse", "--verify", "HEAD"], repo)
    except subprocess.CalledProcessError:
        return False
    return True


def _normalise_mode(path: Path) -> None:
    # NOTE: only the executable bit survives, as in git; 0644/0755 regardless
    # of the umask or filesystem the checkout was made on.
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return
    if stat.S_ISDIR(mode) or mode & 0o111:
        path.chmod(0o755)
    else:
        path.chmod(0o644)


# (1)
def snapshot(repo: Path, dest: Path, commit: str | None) -> None:
    """Copy the source of ``commit`` (or the working tree) into ``dest``.

    Raises ``subprocess.CalledProcessError`` when git fails.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if commit is not None:
        data = subprocess.run(  # noqa: S603
            ["git", "archive", "--format=tar", commit],  # noqa: S607
            cwd=repo, check=True, capture_output=True,
        ).stdout  # fmt: skip
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="data")
    else:
        listing = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], repo)
        for name in sorted(filter(None, listing.split("\0"))):
            source = repo / name
            if not source.exists() and not source.is_symlink():
                continue  # deleted in the working tree but still in the index
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
            else:
                shutil.copyfile(source, target)
                if os.access(source, os.X_OK):
                    target.chmod(0o755)
    for path in sorted(dest.rglob("*")):
        _normalise_mode(path)


# (2)
def source_identity(repo: Path, commit: str | None) -> tuple[str, int]:
    """Return ``(git_sha, source_date_epoch)`` for what is being built."""
    env_epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not _has_head(repo):
        return "unknown", int(env_epoch or 0)
    rev = commit or "HEAD"
    sha = _git(["rev-parse", f"{rev}^{{commit}}"], repo)
    epoch = int(env_epoch or _git(["log", "-1", "--format=%ct", rev], repo))
    if commit is None and _git(["status", "--porcelain", "--untracked-files=normal"], repo):
        sha += "-dirty"
    return sha, epoch


def lock_for(features: str) -> str:
    """Return the lock file (relative to ``image/``) the features need."""
    wanted = {f.strip() for f in features.split(",") if f.strip()}
    return "requirements-enclave.lock" if "enclave" in wanted else "requirements.lock"


def _lock_hashes(lock: Path) -> set[str]:
    return {
        part.split("sha256:", 1)[1].strip(" \\")
        for part in lock.read_text(encoding="utf-8").split()
        if part.startswith("--hash=sha256:")
    }


# (3)
def fetch_wheels(context: Path, features: str, platform_arch: str) -> Path:
    """Download the locked wheels for ``platform_arch`` into the context.

    Wheels are cached in ``image/out/wheel-cache`` between builds; only
    files whose sha256 the lock lists are copied into the context.
    Raises ``BuildError`` when the lock cannot be satisfied.
    """
    sys.path.insert(0, str(REPO / "image"))
    import lock as lockfile  # noqa: PLC0415 -- a sibling script, not a package

    locks = [context / "image" / lock_for(features), context / "image" / "requirements-build.lock"]
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "-qq", "--no-deps",
        "--only-binary=:all:", "--require-hashes", "--dest", str(WHEEL_CACHE),
        "--python-version", lockfile.PYTHON_VERSION, "--implementation", "cp",
        "--abi", "cp" + lockfile.PYTHON_VERSION.replace(".", ""),
    ]  # fmt: skip
    for tag in lockfile._platform_tags(platform_arch):  # noqa: SLF001
        cmd += ["--platform", tag]
    for lock in locks:
        cmd += ["-r", str(lock)]
    try:
        subprocess.run(cmd, check=True)  # noqa: S603
    except subprocess.CalledProcessError as exc:
        raise BuildError("fetching the locked wheels failed") from exc
    wanted = set().union(*(_lock_hashes(lock) for lock in locks))
    wheels = context / "image" / "out" / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for wheel in sorted(WHEEL_CACHE.glob("*.whl")):
        if hashlib.sha256(wheel.read_bytes()).hexdigest() in wanted:
            shutil.copyfile(wheel, wheels / wheel.name)
            (wheels / wheel.name).chmod(0o644)
    return wheels


def _buildah_command(storage: Path, *args: str, offline: bool = False) -> list[str]:
    # NOTE: buildah's chroot isolation cannot take --network none, so the
    # offline steps run in a new, empty network namespace instead.
    cmd = ["unshare", "--net"] if offline else []
    return cmd + [
        "buildah", "--storage-driver", "vfs",
        "--root", str(storage / "root"), "--runroot", str(storage / "run"), *args,
    ]  # fmt: skip


def _buildah(storage: Path, *args: str, offline: bool = False, quiet: bool = False) -> None:
    cmd = _buildah_command(storage, *args, offline=offline)
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL if quiet else None)  # noqa: S603
    except FileNotFoundError as exc:
        raise BuildError(_TOOLS["buildah"].get(cmd[0], f"{cmd[0]} is not installed")) from exc
    except subprocess.CalledProcessError as exc:
        raise BuildError(f"buildah {args[0]} failed (exit {exc.returncode})") from exc


def pull_base(storage: Path, base_image: str) -> None:
    """Pull the base into ``storage``: the only build step that may use the network.

    Raises ``BuildError`` with one line that names the way out (the local
    Debian base) when the base cannot be pulled.
    """
    storage.mkdir(parents=True, exist_ok=True)
    cmd = _buildah_command(storage, "pull", "--quiet", base_image)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)  # noqa: S603
    except FileNotFoundError as exc:
        raise BuildError(_TOOLS["buildah"]["buildah"]) from exc
    if done.returncode != 0:
        said = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        reason = said[-1][:300] if said else f"buildah exit {done.returncode}"
        hint = (
            "" if base_image.startswith("oci-archive:")
            else "; to build on the local Debian base instead: make image BASE_IMAGE=local"
        )  # fmt: skip
        raise BuildError(f"cannot pull the base image {base_image} ({reason}){hint}")


def _build_args(git_sha: str, epoch: int, features: str, base_image: str | None) -> list[str]:
    args = {"GIT_SHA": git_sha, "SOURCE_DATE_EPOCH": str(epoch), "TAP_FEATURES": features}
    if base_image:
        args["BASE_IMAGE"] = base_image
    return [f"--build-arg={k}={v}" for k, v in args.items()]


# (4) + (5), buildah
def build_buildah(
    context: Path,
    archive: Path,
    storage: Path,
    build_args: list[str],
    epoch: int,
) -> None:
    """Build in ``storage`` and export ``archive``.

    The base must already be there (:func:`pull_base`); the build itself runs
    in an empty network namespace.

    Raises ``BuildError`` when buildah fails.
    """
    tag = f"localhost/{IMAGE_NAME}:build"
    _buildah(
        storage, "bud", "--isolation", "chroot",
        "--timestamp", str(epoch), "--omit-history", "--identity-label=false",
        "--format", "oci", "--layers=false", "--no-cache", "--pull=false",
        "--quiet", *build_args, "-f", str(context / "Containerfile"), "-t", tag, str(context),
        offline=True, quiet=True,
    )  # fmt: skip
    archive.unlink(missing_ok=True)
    _buildah(storage, "push", "--quiet", "--format", "oci", tag, f"oci-archive:{archive}")


# (4) + (5), Docker BuildKit
def build_docker(context: Path, archive: Path, build_args: list[str]) -> None:
    """Build with Docker BuildKit and export ``archive``.

    Raises ``BuildError`` when docker fails.
    """
    cmd = [
        "docker", "buildx", "build", *build_args, "--provenance=false", "--sbom=false",
        "--no-cache", "-f", str(context / "Containerfile"),
        "--output", f"type=oci,dest={archive},rewrite-timestamp=true", str(context),
    ]  # fmt: skip
    try:
        subprocess.run(cmd, check=True)  # noqa: S603
    except subprocess.CalledProcessError as exc:
        raise BuildError(f"docker buildx build failed (exit {exc.returncode})") from exc


def resolve_base_image(base_image: str | None) -> str | None:
    """Turn ``local`` into the archive ``image/local_base.py`` makes (building
    it if missing); return anything else unchanged.

    Raises ``BuildError`` when the local base cannot be built.
    """
    if base_image != "local":
        return base_image
    import local_base  # noqa: PLC0415 -- a sibling script, not a package

    if not local_base.DEFAULT_OUT.exists():
        try:
            local_base.build(local_base.DEFAULT_OUT, local_base.default_sources())
        except (OSError, subprocess.CalledProcessError) as exc:
            raise BuildError("building the local base with mmdebstrap failed") from exc
    return f"oci-archive:{local_base.DEFAULT_OUT}"


def default_base_image(containerfile: Path) -> str:
    """Return the default of ``ARG BASE_IMAGE`` in the Containerfile.

    Raises ``BuildError`` when the Containerfile has none.
    """
    for line in containerfile.read_text(encoding="utf-8").splitlines():
        if line.startswith("ARG BASE_IMAGE="):
            return line.split("=", 1)[1].strip()
    raise BuildError(f"{containerfile.name} declares no ARG BASE_IMAGE default")


def _platform_arch() -> str:
    machine = os.uname().machine
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def build(
    *,
    out: Path,
    commit: str | None = None,
    features: str = "",
    base_image: str | None = None,
    builder: str = "buildah",
    storage: Path | None = None,
    source: Path | None = None,
    git_sha: str | None = None,
    epoch: int | None = None,
) -> BuildResult:
    """Run steps (1)-(5) and return the result; see the module docstring.

    ``source`` builds an already prepared directory instead of a snapshot of
    the repository (``image/verify.py`` builds one snapshot twice; the tests
    change one byte of a copy); ``git_sha`` and ``epoch`` then name it
    (default ``unknown`` and ``$SOURCE_DATE_EPOCH`` or 0). ``storage`` is the
    buildah storage to use; by default a fresh temporary one.
    Raises ``BuildError``.
    """
    require_tools(builder, base_image)
    out.mkdir(parents=True, exist_ok=True)
    archive = out / ARCHIVE_NAME
    base_image = resolve_base_image(base_image)
    with tempfile.TemporaryDirectory(prefix="tap-image-") as tmp:
        work = Path(tmp)
        context = work / "context"
        if source is None:
            snapshot(REPO, context, commit)  # (1)
            git_sha, epoch = source_identity(REPO, commit)  # (2)
        else:
            shutil.copytree(source, context, symlinks=True)
            git_sha = git_sha or "unknown"
            if epoch is None:
                epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
        base_ref = base_image or default_base_image(context / "Containerfile")
        if builder == "buildah":
            pull_base(storage or work / "storage", base_ref)  # fail early, before (3)
        fetch_wheels(context, features, _platform_arch())  # (3)
        args = _build_args(git_sha, epoch, features, base_image)
        if builder == "buildah":  # (4)
            build_buildah(context, archive, storage or work / "storage", args, epoch)
        else:
            build_docker(context, archive, [*args, f"--build-arg=SOURCE_DATE_EPOCH={epoch}"])
    image = oci.OciArchive.open(archive)  # (5)
    result = BuildResult(
        archive=str(archive),
        manifest_digest=image.manifest_digest,
        config_digest=image.config_digest,
        size_bytes=image.size_bytes,
        git_sha=git_sha,
        source_date_epoch=epoch,
        features=features,
        base_image=base_image or "(Containerfile default)",
        builder=builder,
    )
    (out / "manifest-digest").write_text(result.manifest_digest + "\n", encoding="utf-8")
    (out / "config-digest").write_text(result.config_digest + "\n", encoding="utf-8")
    (out / "build.json").write_text(
        json.dumps(asdict(result), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return result


def report(result: BuildResult) -> str:
    """Return the lines ``make image`` prints."""
    return "\n".join(
        [
            f"image archive    {result.archive}",
            f"manifest digest  {result.manifest_digest}",
            f"config digest    {result.config_digest}",
            f"size             {result.size_bytes / 1e6:.1f} MB (compressed layers + config)",
            f"git sha          {result.git_sha}",
            f"source epoch     {result.source_date_epoch}",
            f"features         {result.features or '(none)'}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build once, print the report; exit 1 on failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", help="build this commit instead of the working tree")
    parser.add_argument("--features", default=os.environ.get("TAP_FEATURES", ""))
    parser.add_argument("--base-image", default=os.environ.get("BASE_IMAGE") or None)
    parser.add_argument("--out", type=Path, default=REPO / "image" / "out")
    parser.add_argument("--builder", choices=("buildah", "docker"), default="buildah")
    args = parser.parse_args(argv)
    try:
        result = build(
            out=args.out.resolve(),
            commit=args.commit,
            features=args.features,
            base_image=args.base_image,
            builder=args.builder,
        )
    except BuildError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
