"""End to end: the installed ``tap-attest`` verifies a fake TAP instance.

A fake attestation endpoint and a fake TAP instance (``/health`` and
``/attestation``) run over HTTPS on 127.0.0.1; the command runs as a separate
process that trusts the test CA through ``SSL_CERT_FILE``, exactly as a user
would run it.  When the custody issue's enclave fakes land, the fake instance
here should be replaced by the real proxy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.attestation import (
    GIT_SHA,
    HOSTDATA,
    fake_instance,
    fake_maa,
    good_claims,
    log_line,
    serve,
)


@pytest.fixture
def servers(loopback_tls: Any, signing_key: Any) -> Iterator[tuple[Any, Any]]:
    with ExitStack() as stack:
        maa = stack.enter_context(serve(fake_maa(signing_key), loopback_tls))
        instance = stack.enter_context(
            serve(
                fake_instance(signing_key, lambda: maa.origin, tls_key=loopback_tls.spki_sha256),
                loopback_tls,
            )
        )
        yield maa, instance


def tap_attest(*args: str, ca_file: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("tap-attest", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-c", "from attestation._cli import main; main()"]
    env = {"PATH": os.environ.get("PATH", ""), "SSL_CERT_FILE": str(ca_file)}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=60)


def test_verify_instance_end_to_end(
    tmp_path: Path, servers: tuple[Any, Any], loopback_tls: Any
) -> None:
    maa, instance = servers
    log = tmp_path / "production.jsonl"
    log.write_bytes(log_line(maa_endpoint=maa.origin))

    result = tap_attest(
        "verify-instance",
        instance.origin,
        "--log",
        str(log),
        "--json",
        ca_file=loopback_tls.ca_file,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["build_sha"] == GIT_SHA
    assert document["row"]["cce_hostdata"] == HOSTDATA
    names = [check["name"] for check in document["checks"]]
    assert names[:6] == [
        "log.verified",
        "instance.health",
        "log.rows",
        "log.endpoint",
        "endpoint.keys",
        "instance.attestation",
    ]
    assert names[-4:] == [
        "claim.x-ms-runtime.nonce",
        "instance.tls-key",
        "instance.build-sha",
        "log.row",
    ]
    assert document["tls_spki_sha256"] == loopback_tls.spki_sha256
    # The instance was asked for a token bound to the nonce the verifier reports.
    assert [r.path for r in instance.received] == ["/health", "/attestation"]
    assert instance.received[1].query == {"nonce": [document["nonce"]]}
    # Keys came from the endpoint the log names, and from nowhere else.
    assert [r.path for r in maa.received] == ["/.well-known/openid-configuration", "/certs"]


def test_verify_instance_refuses_a_replayed_token(
    tmp_path: Path, loopback_tls: Any, signing_key: Any
) -> None:
    recorded: dict[str, str] = {}

    def replayed(iss: str, nonce: str) -> dict[str, Any]:
        recorded.setdefault("first", nonce)
        return good_claims(iss=iss, now=datetime.now(tz=UTC), nonce=recorded["first"])

    with ExitStack() as stack:
        maa = stack.enter_context(serve(fake_maa(signing_key), loopback_tls))
        instance = stack.enter_context(
            serve(
                fake_instance(
                    signing_key,
                    lambda: maa.origin,
                    claims=replayed,
                    tls_key=loopback_tls.spki_sha256,
                ),
                loopback_tls,
            )
        )
        log = tmp_path / "production.jsonl"
        log.write_bytes(log_line(maa_endpoint=maa.origin))
        first = tap_attest(
            "verify-instance", instance.origin, "--log", str(log), ca_file=loopback_tls.ca_file
        )
        second = tap_attest(
            "verify-instance", instance.origin, "--log", str(log), ca_file=loopback_tls.ca_file
        )

    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 1
    assert "FAIL  claim.x-ms-runtime.nonce" in second.stdout
    assert "FAIL: claim.x-ms-runtime.nonce" in second.stderr


def test_verify_instance_wrong_measurement(
    tmp_path: Path, servers: tuple[Any, Any], loopback_tls: Any
) -> None:
    maa, instance = servers
    log = tmp_path / "production.jsonl"
    log.write_bytes(log_line(maa_endpoint=maa.origin, cce_policy=None, cce_hostdata="6" * 64))
    result = tap_attest(
        "verify-instance", instance.origin, "--log", str(log), ca_file=loopback_tls.ca_file
    )
    assert result.returncode == 1
    assert "FAIL  claim.x-ms-sevsnpvm-hostdata" in result.stdout


def test_verify_instance_unreachable(tmp_path: Path, loopback_tls: Any) -> None:
    log = tmp_path / "production.jsonl"
    log.write_bytes(log_line())
    result = tap_attest(
        "verify-instance", "https://127.0.0.1:1", "--log", str(log), ca_file=loopback_tls.ca_file
    )
    assert result.returncode == 2
    assert "could not check" in result.stderr


def test_verify_instance_without_the_test_ca_could_not_check(
    tmp_path: Path, servers: tuple[Any, Any], loopback_tls: Any
) -> None:
    maa, instance = servers
    log = tmp_path / "production.jsonl"
    log.write_bytes(log_line(maa_endpoint=maa.origin))
    untrusted = tmp_path / "empty-ca.pem"
    untrusted.write_text(Path(loopback_tls.cert_file).read_text())  # not the CA
    result = tap_attest("verify-instance", instance.origin, "--log", str(log), ca_file=untrusted)
    assert result.returncode == 2
    assert instance.received == []
