"""Build the image twice in clean storage and fail unless the digests match.

The checks, in order, each reported as one ``OK``/``FAIL`` line:

1. (1) ``manifest-digest``: both builds have the same manifest digest (what
   the measurement log records and registries serve).
2. (2) ``config-digest``: both builds have the same config digest.

On a mismatch the report shows what differs: the config documents key by
key, then for each differing layer ``diffoscope`` on the two layer blobs
when it is installed, else a file-by-file listing of entries whose metadata
or content differ.

Both builds use one snapshot of the source, so an edit made while they run
cannot cause a false alarm.

Usage::

    python3 image/verify.py [--commit REV] [--features enclave] [--base-image REF]
                            [--source DIR] [--out image/out/verify]

``--base-image local`` builds on the Debian base from ``image/local_base.py``.

Exit status: 0 both builds are identical, 1 they differ, 2 a build failed.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import build  # noqa: E402
import oci  # noqa: E402

REPO = build.REPO


def describe_config_difference(first: oci.OciArchive, second: oci.OciArchive) -> list[str]:
    """Return a unified diff of the two config documents (empty if equal)."""
    a = json.dumps(first.config, indent=1, sort_keys=True).splitlines()
    b = json.dumps(second.config, indent=1, sort_keys=True).splitlines()
    return list(difflib.unified_diff(a, b, "first/config", "second/config", lineterm=""))


def describe_layer_difference(
    first: oci.OciArchive, second: oci.OciArchive, index: int
) -> list[str]:
    """Return the entries of layer ``index`` that differ between the builds."""
    a = {e.name: e for e in first.layer_entries(first.layer_digests[index])}
    b = {e.name: e for e in second.layer_entries(second.layer_digests[index])}
    lines = []
    for name in sorted(a.keys() | b.keys()):
        left, right = a.get(name), b.get(name)
        if left == right:
            continue
        lines.append(f"  - {left.describe() if left else '(absent) ' + name}")
        lines.append(f"  + {right.describe() if right else '(absent) ' + name}")
    if not lines and list(a) != list(b):
        lines.append("  same entries, different order in the tar stream")
    if not lines:
        lines.append("  same entries and contents: the difference is in tar headers or compression")
    return lines


def _extract_blob(archive: oci.OciArchive, digest: str, dest: Path) -> Path:
    name = "blobs/" + digest.replace(":", "/")
    with tarfile.open(archive.path) as tar:
        member = tar.getmember(name)
        handle = tar.extractfile(member)
        if handle is None:
            raise oci.OciError(f"{archive.path}: {name} is not a file")
        dest.write_bytes(handle.read())
    return dest


def diffoscope(first: oci.OciArchive, second: oci.OciArchive, index: int) -> list[str]:
    """Run diffoscope on one layer of both builds; ``[]`` when it is absent."""
    tool = shutil.which("diffoscope")
    if tool is None:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        a = _extract_blob(first, first.layer_digests[index], Path(tmp) / "first-layer.tar.gz")
        b = _extract_blob(second, second.layer_digests[index], Path(tmp) / "second-layer.tar.gz")
        done = subprocess.run(  # noqa: S603
            [tool, "--text", "-", "--max-report-size", "200000", str(a), str(b)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    return done.stdout.splitlines()


def compare(first: oci.OciArchive, second: oci.OciArchive) -> list[str]:
    """Return the report lines; the first line starting ``FAIL`` means a mismatch."""
    lines = []
    for label, a, b in (
        ("manifest-digest", first.manifest_digest, second.manifest_digest),
        ("config-digest", first.config_digest, second.config_digest),
    ):
        status = "OK  " if a == b else "FAIL"
        lines.append(f"{status} {label}: {a}" + ("" if a == b else f" != {b}"))
    if first.manifest_digest == second.manifest_digest:
        return lines
    lines += describe_config_difference(first, second)
    layers = zip(first.layer_digests, second.layer_digests, strict=False)
    for index, (a, b) in enumerate(layers):
        if a == b:
            continue
        lines.append(f"layer {index} differs: {a} != {b}")
        lines += diffoscope(first, second, index) or describe_layer_difference(first, second, index)
    return lines


def main(argv: list[str] | None = None) -> int:
    """Build twice from one snapshot, compare, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit")
    parser.add_argument("--features", default=os.environ.get("TAP_FEATURES", ""))
    parser.add_argument("--base-image", default=os.environ.get("BASE_IMAGE") or None)
    parser.add_argument("--out", type=Path, default=REPO / "image" / "out" / "verify")
    parser.add_argument(
        "--source", type=Path, help="build this prepared source tree instead of a snapshot"
    )
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    try:
        build.require_tools("buildah", args.base_image)
    except build.BuildError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tap-verify-") as tmp:
        if args.source is not None:
            source: Path = args.source.resolve()
            git_sha, epoch = "unknown", int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
        else:
            source = Path(tmp) / "source"
            build.snapshot(REPO, source, args.commit)
            git_sha, epoch = build.source_identity(REPO, args.commit)
        results = []
        try:
            for run in ("first", "second"):
                results.append(
                    build.build(
                        out=out / run,
                        features=args.features,
                        base_image=args.base_image,
                        source=source,
                        git_sha=git_sha,
                        epoch=epoch,
                    )
                )
        except build.BuildError as exc:
            print(f"FAIL: {exc}", file=sys.stderr)
            return 2
    first, second = (oci.OciArchive.open(Path(r.archive)) for r in results)
    lines = compare(first, second)
    print("\n".join(lines))
    print(f"size {results[0].size_bytes / 1e6:.1f} MB; archives in {out}")
    return 1 if any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
