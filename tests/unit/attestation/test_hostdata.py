"""Tests for attestation/_hostdata.py, driven by tests/vectors/attestation/hostdata.txt."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from attestation import InputError, PolicyFormat, hostdata_of_file, hostdata_of_rego
from tests.support.attestation import VECTORS


def hostdata_table() -> list[tuple[str, str, str]]:
    rows = []
    for line in (VECTORS / "hostdata.txt").read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            name, fmt, digest = line.split()
            rows.append((name, fmt, digest))
    return rows


@pytest.mark.parametrize(("name", "fmt", "digest"), hostdata_table())
def test_vectors(name: str, fmt: str, digest: str) -> None:
    assert hostdata_of_file(VECTORS / name).hex == digest  # auto-detected
    result = hostdata_of_file(VECTORS / name, PolicyFormat(fmt))
    assert (result.hex, result.format) == (digest, PolicyFormat(fmt))


def test_hash_is_of_the_decoded_text_not_the_base64(tmp_path: Path) -> None:
    rego = (VECTORS / "policy_minimal.rego").read_bytes()
    encoded = base64.b64encode(rego)
    path = tmp_path / "policy.b64"
    path.write_bytes(encoded + b"\n")
    result = hostdata_of_file(path)
    assert result.format is PolicyFormat.BASE64
    assert result.hex == hashlib.sha256(rego).hexdigest() != hashlib.sha256(encoded).hexdigest()


def test_no_newline_normalisation() -> None:
    assert hostdata_of_rego(b"package policy\n") != hostdata_of_rego(b"package policy\r\n")
    assert hostdata_of_rego(b"package policy\n") != hostdata_of_rego(b"package policy")


def test_wrapped_base64_is_refused_not_guessed(tmp_path: Path) -> None:
    encoded = base64.encodebytes((VECTORS / "policy_minimal.rego").read_bytes())
    path = tmp_path / "policy.b64"
    path.write_bytes(encoded)
    with pytest.raises(InputError, match="wrapped"):
        hostdata_of_file(path)


def arm(*resources: object) -> bytes:
    return json.dumps({"resources": list(resources)}).encode()


def group(policy: object) -> dict[str, object]:
    return {
        "type": "Microsoft.ContainerInstance/containerGroups",
        "properties": {"confidentialComputeProperties": {"ccePolicy": policy}},
    }


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        # ARM templates without exactly one literal policy
        (arm(), PolicyFormat.ARM),
        (arm(group("cGFja2FnZQ=="), group("cGFja2FnZQ==")), PolicyFormat.ARM),
        (arm(group("[parameters('ccePolicy')]")), PolicyFormat.ARM),
        (
            arm({"type": "Microsoft.ContainerInstance/containerGroups", "properties": {}}),
            PolicyFormat.ARM,
        ),
        (b'{"resources": {}}', PolicyFormat.ARM),
        (b"{not json", PolicyFormat.ARM),
        # base64 that is not canonical
        (b"cGFja2FnZQ", PolicyFormat.BASE64),
        (b"package policy", PolicyFormat.BASE64),
        (b"\xff\xfe", PolicyFormat.BASE64),
    ],
)
def test_refusals(tmp_path: Path, data: bytes, fmt: PolicyFormat) -> None:
    path = tmp_path / "policy"
    path.write_bytes(data)
    with pytest.raises(InputError):
        hostdata_of_file(path, fmt)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        hostdata_of_file(tmp_path / "missing.rego")
