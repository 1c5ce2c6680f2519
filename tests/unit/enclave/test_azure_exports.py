"""``enclave.azure`` keeps an exact, sorted public surface and loads no Azure SDK it does not need."""

from __future__ import annotations

import subprocess
import sys

import enclave
import enclave.azure


def test_azure_exports_are_exact_and_sorted() -> None:
    assert enclave.azure.__all__ == sorted(enclave.azure.__all__)
    public = {n for n in dir(enclave.azure) if not n.startswith("_")} - {"annotations"}
    assert public == set(enclave.azure.__all__)


def test_attestation_endpoint_loads_no_azure_code_without_the_feature() -> None:
    code = (
        "import sys, app.attestation_endpoint, tools.cli.enclave;"
        "bad = [m for m in sys.modules if m.startswith(('azure', 'enclave.azure'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sidecar_path_does_not_need_the_azure_sdk() -> None:
    # The SDK is loaded only for TAP_SKR_RELEASE_VIA=keyvault.
    code = (
        "import sys, enclave.azure;"
        "bad = [m for m in sys.modules if m.startswith('azure')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
