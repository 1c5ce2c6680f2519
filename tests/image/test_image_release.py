"""Release tooling: parameters name the image by digest, release policies
authorize exactly the live hostdata, and tap-attest agrees."""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import IMAGE_DIR

H1, H2, H3 = ("1" * 64, "2" * 64, "3" * 64)
AUTHORITY = "https://attest.example"
DIGEST = "sha256:" + "d" * 64
TAP_ATTEST = Path(sys.executable).parent / "tap-attest"


@pytest.fixture(scope="module")
def release() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "tap_release", IMAGE_DIR / "release" / "release.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _claims(hostdata: str) -> dict[str, object]:
    return {
        "iss": AUTHORITY,
        "x-ms-attestation-type": "sevsnpvm",
        "x-ms-compliance-status": "azure-compliant-uvm",
        "x-ms-sevsnpvm-is-debuggable": False,
        "x-ms-sevsnpvm-vmpl": 0,
        "x-ms-sevsnpvm-hostdata": hostdata,
    }


def test_template_is_a_confidential_group_with_the_sidecar() -> None:
    template = json.loads((IMAGE_DIR / "release" / "aci-template.json").read_text())
    [group] = template["resources"]
    assert group["properties"]["sku"] == "Confidential"
    names = [c["name"] for c in group["properties"]["containers"]]
    assert names == ["tap", "skr"]
    env = {
        e["name"]: e
        for e in group["properties"]["containers"][0]["properties"]["environmentVariables"]
    }
    assert env["TAP_FEATURES"]["value"] == "enclave"
    assert {
        "TAP_SKR_SIDECAR_URL",
        "TAP_SKR_MAA_ENDPOINT",
        "TAP_SKR_AKV_ENDPOINT",
        "TAP_SKR_KEY_ID",
    } <= set(env)
    assert "secureValue" in env["POSTGRES_DATABASE_URL"]
    assert "TAP_ENCRYPTION_KEY" not in env


def test_params_name_the_image_by_digest(release: ModuleType) -> None:
    doc = release.parameters({"manifest_digest": DIGEST}, "registry.example/tap-proxy", name="tap")
    assert doc["parameters"]["tapImage"]["value"] == f"registry.example/tap-proxy@{DIGEST}"
    with pytest.raises(release.ReleaseError):
        release.parameters({"manifest_digest": DIGEST}, "registry.example/tap-proxy:latest")
    with pytest.raises(release.ReleaseError):
        release.parameters({}, "registry.example/tap-proxy")


def test_policy_lists_each_hostdata_once(release: ModuleType) -> None:
    policy = release.release_policy(AUTHORITY, [H1, H2, H1])
    [authority] = policy["anyOf"]
    measured = authority["allOf"][-1]["anyOf"]
    assert [c["equals"] for c in measured] == [H1, H2]


@pytest.mark.parametrize(
    "hostdata",
    [[], ["ABC"], ["1" * 63], ["G" * 64]],
    ids=["empty", "short", "63-hex", "upper"],
)
def test_policy_refuses_bad_hostdata(release: ModuleType, hostdata: list[str]) -> None:
    with pytest.raises(release.ReleaseError):
        release.release_policy(AUTHORITY, hostdata)


def test_live_hostdata_keeps_the_newest_of_one_environment(
    release: ModuleType, tmp_path: Path
) -> None:
    log = tmp_path / "production.jsonl"
    rows = [("production", H1), ("staging", H3), ("production", H2), ("production", H2)]
    log.write_text(
        "".join(json.dumps({"environment": e, "cce_hostdata": h}) + "\n" for e, h in rows)
    )
    assert release.live_hostdata(log, "production", 2) == [H2, H1]
    assert release.live_hostdata(log, "production", 1) == [H2]
    with pytest.raises(release.ReleaseError):
        release.live_hostdata(log, "dev", 2)


def test_policy_from_template_decodes_the_rego(release: ModuleType) -> None:
    rego = b"package policy\n"
    template = {
        "resources": [
            {
                "type": release.CONTAINER_GROUP,
                "properties": {
                    "confidentialComputeProperties": {"ccePolicy": base64.b64encode(rego).decode()}
                },
            }
        ]
    }
    assert release.policy_from_template(template) == rego
    template["resources"][0]["properties"]["confidentialComputeProperties"]["ccePolicy"] = ""
    with pytest.raises(release.ReleaseError):
        release.policy_from_template(template)


@pytest.mark.skipif(not TAP_ATTEST.exists(), reason="tap-attest is not installed yet")
@pytest.mark.parametrize(("hostdata", "released"), [(H1, True), (H2, True), (H3, False)])
def test_tap_attest_agrees_with_the_generated_policy(
    release: ModuleType, tmp_path: Path, hostdata: str, released: bool
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(release.release_policy(AUTHORITY, [H1, H2])))
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(_claims(hostdata)))
    done = subprocess.run(
        [str(TAP_ATTEST), "policy", "check", str(policy), "--claims", str(claims)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == (0 if released else 1), done.stdout + done.stderr
