"""``tap-attest verify-instance`` against a real tap-proxy in enclave mode (issue 6, Done when).

tap-proxy runs with ``TAP_FEATURES=enclave`` against the custody fakes: its
``/attestation`` asks the fake sidecar, which asks the fake MAA for a token with
the group's hostdata. A small TLS front stands where a managed instance's load
balancer stands (tap-proxy itself serves plain HTTP on loopback), and the fake
MAA also serves its metadata and keys over HTTPS. The installed ``tap-attest``
runs as a separate process that trusts the test CA through ``SSL_CERT_FILE``,
exactly as a user would run it.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from attestation._cli import cli as tap_attest_cli
from tests.enclave._boot import start_enclave_proxy
from tests.enclave.conftest import HOSTDATA, KEY_NAME, AzureFakes
from tests.support.loopback import LoopbackServer, Reply, Request
from tests.support.pki import TlsIdentity
from tests.support.proxy import ProxyProcess

BUILD_SHA = "7e57" + "a" * 36
"""The build the proxy reports in /health (TAP_BUILD_SHA)."""

CHECKS = [
    "log.verified",
    "instance.health",
    "log.rows",
    "log.endpoint",
    "endpoint.keys",
    "instance.attestation",
]
"""The checks verify-instance runs before the token's own checks."""


def _tls_front(backend: str, tls: ssl.SSLContext) -> LoopbackServer:
    """An HTTPS origin that forwards GET requests to ``backend``, as a load balancer would."""

    def forward(request: Request) -> Reply:
        if request.method != "GET":
            return Reply.json(405, {"error": "method_not_allowed"})
        try:
            response = httpx.get(backend + request.path, params=request.query, timeout=30)
        except httpx.TransportError:
            return Reply.json(502, {"error": "bad_gateway"})
        content_type = response.headers.get("content-type", "application/octet-stream")
        return Reply(response.status_code, response.content, {"Content-Type": content_type})

    return LoopbackServer(forward, tls=tls).start()


@dataclass
class Instance:
    """A running enclave-mode tap-proxy behind its HTTPS front."""

    azure: AzureFakes
    proxy: ProxyProcess
    front: LoopbackServer
    kek_version: str
    ca_file: Path

    @property
    def url(self) -> str:
        return f"https://localhost:{self.front.port}"


@pytest.fixture
def instance(tmp_path: Path, database_url: str, azure: AzureFakes) -> Iterator[Instance]:
    directory = tmp_path / "https"
    directory.mkdir()
    tls = TlsIdentity.create(directory)
    context = tls.server_context(directory)
    azure.maa.serve_https(context)
    # The tokens now name the HTTPS issuer; the KEK's release policy must too.
    version = azure.new_version()
    proxy = start_enclave_proxy(
        tmp_path, database_url, azure, version=version, TAP_BUILD_SHA=BUILD_SHA
    )
    front = _tls_front(proxy.url, context)
    try:
        yield Instance(azure, proxy, front, version, tls.ca_file)
    finally:
        front.stop()
        assert proxy.stop() == 0, proxy.log()


def _log(directory: Path, instance: Instance, **overrides: str) -> Path:
    """A measurement log with one row, written by ``tap-attest log append``."""
    options = {
        "--environment": "production",
        "--git-sha": BUILD_SHA,
        "--image-digest": "sha256:" + "2" * 64,
        "--kek": f"kv-tap-test/{KEY_NAME}/{instance.kek_version}",
        "--maa-endpoint": instance.azure.maa.issuer,
        "--cce-hostdata": HOSTDATA,
        "--cosign-identity": "https://github.com/example/tap/.github/workflows/deploy.yml@refs/heads/main",
        "--run-url": "https://github.com/example/tap/actions/runs/1",
        **overrides,
    }
    directory.mkdir(exist_ok=True)
    log = directory / "production.jsonl"
    args = ["log", "append", str(log)] + [item for pair in options.items() for item in pair]
    result = CliRunner().invoke(tap_attest_cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return log


def _verify(
    url: str, log: Path, *, ca_file: Path, json_output: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``tap-attest verify-instance`` as a user would."""
    exe = shutil.which("tap-attest", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-c", "from attestation._cli import main; main()"]
    args = ["verify-instance", url, "--log", str(log), *(["--json"] if json_output else [])]
    env = {"PATH": os.environ.get("PATH", ""), "SSL_CERT_FILE": str(ca_file)}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=60)


def test_verifies_the_release_the_instance_runs(tmp_path: Path, instance: Instance) -> None:
    log = _log(tmp_path, instance)

    result = _verify(instance.url, log, ca_file=instance.ca_file, json_output=True)

    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert all(check["ok"] for check in document["checks"]), document["checks"]
    names = [check["name"] for check in document["checks"]]
    assert names[: len(CHECKS)] == CHECKS
    assert "claim.x-ms-sevsnpvm-hostdata" in names and "claim.x-ms-sevsnpvm-vmpl" in names
    assert names[-2:] == ["claim.x-ms-runtime.nonce", "log.row"]
    assert document["build_sha"] == BUILD_SHA
    assert document["row"]["cce_hostdata"] == HOSTDATA
    # The token the proxy fetched was minted for the verifier's nonce, and no other.
    assert instance.azure.maa.tokens[-1]["x-ms-runtime"] == {"nonce": document["nonce"]}
    # The keys came from the endpoint the log names, over HTTPS.
    assert instance.azure.maa.https is not None
    assert [r.path for r in instance.azure.maa.https.received] == [
        "/.well-known/openid-configuration",
        "/certs",
    ]
    assert [r.path for r in instance.front.received] == ["/health", "/attestation"]


def _as_it_runs(instance: Instance) -> None:
    """Leave the instance as it is."""


def _sidecar_gone(instance: Instance) -> None:
    """The proxy stays up, but nothing can attest for it any more."""
    instance.azure.sidecar.stop()


def _front_gone(instance: Instance) -> None:
    """Nothing answers at the instance's URL any more."""
    instance.front.stop()


# (case, log row, what happens to the instance first, exit status, what the output names)
# One instance serves every case, so the cases that break it come last.
VERDICTS = [
    # The log records another measurement for the build the instance reports.
    (
        "other-hostdata",
        {"--cce-hostdata": "ab" * 32},
        _as_it_runs,
        1,
        "FAIL  claim.x-ms-sevsnpvm-hostdata: expected",
    ),
    # The instance reports a build the log does not know.
    ("unknown-sha", {"--git-sha": "f" * 40}, _as_it_runs, 1, "FAIL  log.rows: expected"),
    # The proxy is up but cannot get a token: its /attestation answers 503.
    ("no-token", {}, _sidecar_gone, 2, "/attestation answered 503"),
    # Nothing answers at the instance's URL.
    ("unreachable", {}, _front_gone, 2, "/health failed"),
]


def test_every_other_verdict_exits_non_zero_and_names_its_check(
    tmp_path: Path, instance: Instance, subtests: pytest.Subtests
) -> None:
    for case, row, event, status, named in VERDICTS:
        with subtests.test(case):
            log = _log(tmp_path / case, instance, **row)
            event(instance)

            result = _verify(instance.url, log, ca_file=instance.ca_file)

            output = result.stdout + result.stderr
            assert result.returncode == status, output
            assert result.stderr.startswith("FAIL: " if status == 1 else "ERROR: could not check: ")
            assert named in output, output
            assert "VERIFIED" not in result.stdout
