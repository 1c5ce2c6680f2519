"""Scripted steps of a managed (confidential container) release.

The runbook is ``image/release/README.md``; this script does the steps that
need no Azure credentials, so they can be reviewed and tested offline:

``params``
    Write the ARM parameters file for ``aci-template.json`` from a build's
    ``image/out/build.json`` (the TAP image is always named by digest).
``release-policy``
    Write the Key Vault key release policy that authorizes a set of
    hostdata values: given explicitly, or the newest ``--keep`` distinct
    values of one environment in the measurement log (older ones are pruned).
``publish``
    After ``az confcom acipolicygen`` has put the policy into the template:
    compute its hostdata with ``tap-attest hostdata``, write the clear-text
    policy beside the log as ``policies/<hostdata>.rego``, and append the
    release to the log with ``tap-attest log append``.

Usage::

    python3 image/release/release.py params --build image/out/build.json \\
        --image-repository REGISTRY/tap-proxy --skr-image REF@sha256:... \\
        --name tap-production --maa-endpoint HOST --akv-endpoint HOST \\
        --key-id URL --public-url URL --identity-id ID --out release/params.json
    python3 image/release/release.py release-policy --authority https://HOST \\
        --log measurements/production.jsonl --environment production --keep 2
    python3 image/release/release.py publish --template release/aci.json \\
        --log measurements/production.jsonl --environment production ...
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HOSTDATA = re.compile(r"[0-9a-f]{64}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
CONTAINER_GROUP = "Microsoft.ContainerInstance/containerGroups"

#: Claims every authorized token must carry, besides its hostdata. Values are
#: strings, as Microsoft's sample policy writes them.
FIXED_CLAIMS: tuple[tuple[str, str], ...] = (
    ("x-ms-attestation-type", "sevsnpvm"),
    ("x-ms-compliance-status", "azure-compliant-uvm"),
    ("x-ms-sevsnpvm-is-debuggable", "false"),
    ("x-ms-sevsnpvm-vmpl", "0"),
)


class ReleaseError(Exception):
    """A release step cannot go on; the message says why."""


def release_policy(authority: str, hostdata: Sequence[str]) -> dict[str, Any]:
    """Return the release policy authorizing exactly ``hostdata``.

    Raises ``ReleaseError`` for an empty set, a malformed value or an
    authority that is not an https origin.
    """
    if not hostdata:
        raise ReleaseError("a release policy needs at least one hostdata value")
    for value in hostdata:
        if not HOSTDATA.fullmatch(value):
            raise ReleaseError(f"not a hostdata value (64 lowercase hex): {value!r}")
    if not re.fullmatch(r"https://[a-z0-9.-]+", authority):
        raise ReleaseError(f"authority must be an https origin, got {authority!r}")
    fixed: list[dict[str, Any]] = [{"claim": c, "equals": v} for c, v in FIXED_CLAIMS]
    measured = [{"claim": "x-ms-sevsnpvm-hostdata", "equals": h} for h in dict.fromkeys(hostdata)]
    return {
        "version": "1.0.0",
        "anyOf": [{"authority": authority, "allOf": [*fixed, {"anyOf": measured}]}],
    }


def live_hostdata(log: Path, environment: str, keep: int) -> list[str]:
    """Return the newest ``keep`` distinct hostdata values of ``environment``.

    Raises ``ReleaseError`` when the environment has no row.
    """
    values: list[str] = []
    for line in log.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["environment"] == environment:
            values.append(row["cce_hostdata"])
    newest = list(dict.fromkeys(reversed(values)))[:keep]
    if not newest:
        raise ReleaseError(f"{log}: no release for environment {environment!r}")
    return newest


def parameters(build: dict[str, Any], repository: str, **values: str) -> dict[str, Any]:
    """Return an ARM parameters document for ``aci-template.json``.

    Raises ``ReleaseError`` when the build has no manifest digest.
    """
    digest = build.get("manifest_digest", "")
    if not DIGEST.fullmatch(digest):
        raise ReleaseError(f"build.json has no manifest digest (got {digest!r})")
    if "@" in repository or ":" in repository.rsplit("/", 1)[-1]:
        raise ReleaseError("--image-repository takes a name without tag or digest")
    merged = {"tapImage": f"{repository}@{digest}", **values}
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {key: {"value": merged[key]} for key in sorted(merged)},
    }


def policy_from_template(template: dict[str, Any]) -> bytes:
    """Return the clear-text Rego that confcom put in the template.

    Raises ``ReleaseError`` when the template holds no policy (or several).
    """
    policies = [
        r["properties"]["confidentialComputeProperties"].get("ccePolicy", "")
        for r in template.get("resources", [])
        if r.get("type") == CONTAINER_GROUP
    ]
    if len(policies) != 1 or not policies[0]:
        raise ReleaseError("the template holds no ccePolicy: run az confcom acipolicygen first")
    return base64.b64decode(policies[0], validate=True)


def _tap_attest(*args: str) -> str:
    tool = shutil.which("tap-attest")
    if tool is None:
        raise ReleaseError("tap-attest is not installed (pip install -e . in this repository)")
    done = subprocess.run([tool, *args], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise ReleaseError(f"tap-attest {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def publish(args: argparse.Namespace) -> None:
    """Write the policy text beside the log, then append the log row."""
    template = Path(args.template)
    rego = policy_from_template(json.loads(template.read_text(encoding="utf-8")))
    hostdata = _tap_attest("hostdata", str(template))
    if not HOSTDATA.fullmatch(hostdata):
        raise ReleaseError(f"tap-attest hostdata printed {hostdata!r}")
    policies = Path(args.log).parent / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    policy_file = policies / f"{hostdata}.rego"
    policy_file.write_bytes(rego)
    build = json.loads(Path(args.build).read_text(encoding="utf-8"))
    _tap_attest(
        "log", "append", str(args.log), "--environment", args.environment,
        "--git-sha", build["git_sha"], "--image-digest", build["manifest_digest"],
        "--kek", args.kek, "--maa-endpoint", args.maa_endpoint,
        "--cosign-identity", args.cosign_identity, "--run-url", args.run_url,
        "--policy", str(policy_file), "--policy-format", "rego",
    )  # fmt: skip
    print(f"{hostdata} {policy_file}")


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; exit 1 with one ``FAIL:`` line on a ReleaseError."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("params", help="write the ARM parameters file")
    p.add_argument("--build", type=Path, required=True)
    p.add_argument("--image-repository", required=True)
    p.add_argument("--out", type=Path, required=True)
    for name in ("skr-image", "name", "maa-endpoint", "akv-endpoint", "key-id", "public-url"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--identity-id", required=True)

    r = sub.add_parser("release-policy", help="write the Key Vault release policy")
    r.add_argument("--authority", required=True, help="https://<attestation provider host>")
    r.add_argument("--hostdata", action="append", default=[])
    r.add_argument("--log", type=Path)
    r.add_argument("--environment")
    r.add_argument("--keep", type=int, default=2, help="live releases to keep (default 2)")
    r.add_argument("--out", type=Path, help="default: stdout")

    u = sub.add_parser("publish", help="publish the policy and append the log row")
    for name in ("template", "build", "log", "environment", "kek", "maa-endpoint"):
        u.add_argument(f"--{name}", required=True)
    u.add_argument("--cosign-identity", required=True)
    u.add_argument("--run-url", required=True)

    args = parser.parse_args(argv)
    try:
        if args.command == "params":
            build = json.loads(args.build.read_text(encoding="utf-8"))
            doc = parameters(
                build,
                args.image_repository,
                skrImage=args.skr_image,
                name=args.name,
                maaEndpoint=args.maa_endpoint,
                akvEndpoint=args.akv_endpoint,
                keyId=args.key_id,
                publicUrl=args.public_url,
                identityId=args.identity_id,
            )
            args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        elif args.command == "release-policy":
            values = list(args.hostdata)
            if args.log is not None:
                if not args.environment:
                    raise ReleaseError("--log needs --environment")
                values += live_hostdata(args.log, args.environment, args.keep)
            text = json.dumps(release_policy(args.authority, values), indent=2) + "\n"
            if args.out is None:
                sys.stdout.write(text)
            else:
                args.out.write_text(text, encoding="utf-8")
        else:
            publish(args)
    except (ReleaseError, OSError, KeyError, ValueError) as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
