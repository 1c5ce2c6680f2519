"""Every custody failure stops tap-proxy: exit 1 and one line naming the step (issue 5, point 4).

Each case breaks one link of the chain and starts a real tap-proxy in enclave
mode. There is never a fallback to an environment key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from enclave.azure import WrappedDek, private_jwk
from tests.enclave._boot import enclave_env, put_record, startup_failure
from tests.enclave.conftest import KEY_NAME, AzureFakes
from tests.support.loopback import Reply
from tests.support.pki import rsa_key
from tests.support.proxy import TEST_KEY


def _oaep() -> padding.OAEP:
    return padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)


def _kek(azure: AzureFakes):  # type: ignore[no-untyped-def]
    return azure.kv.keys[(KEY_NAME, azure.version)].key


def _sidecar_not_ready(azure: AzureFakes, url: str) -> dict[str, str]:
    azure.sidecar.ready = False
    return {"TAP_SKR_WAIT_SECS": "1"}


def _sidecar_absent(azure: AzureFakes, url: str) -> dict[str, str]:
    azure.sidecar.stop()
    return {"TAP_SKR_WAIT_SECS": "1"}


def _release_forbidden(azure: AzureFakes, url: str) -> dict[str, str]:
    azure.sidecar.override = Reply.json(403, {"error": "SKR failed: AccessDenied"})
    return {}


def _malformed_body(azure: AzureFakes, url: str) -> dict[str, str]:
    azure.sidecar.override = Reply(200, b'{"key": "x"}{"error": "x"}')
    return {}


def _no_key_member(azure: AzureFakes, url: str) -> dict[str, str]:
    azure.sidecar.override = Reply.json(200, {"token": "x"})
    return {}


def _ec_key(azure: AzureFakes, url: str) -> dict[str, str]:
    jwk = {"kty": "EC-HSM", "crv": "P-256", "d": "AA", "x": "AA", "y": "AA"}
    azure.sidecar.override = Reply.json(200, {"key": json.dumps(jwk)})
    return {}


def _small_modulus(azure: AzureFakes, url: str) -> dict[str, str]:
    azure.sidecar.override = Reply.json(200, {"key": json.dumps(private_jwk(rsa_key(1024)))})
    return {}


def _public_only(azure: AzureFakes, url: str) -> dict[str, str]:
    jwk = {k: v for k, v in private_jwk(rsa_key()).items() if k in ("kty", "n", "e")}
    azure.sidecar.override = Reply.json(200, {"key": jwk})
    return {}


def _wrapped_under_another_kek(azure: AzureFakes, url: str) -> dict[str, str]:
    dek = os.urandom(32)
    other = rsa_key().public_key()
    from enclave import dek_fingerprint

    record = WrappedDek(azure.kid, dek_fingerprint(dek), other.encrypt(dek, _oaep()))
    put_record(url, record.to_bytes())
    return {}


def _wrong_length(azure: AzureFakes, url: str) -> dict[str, str]:
    short = os.urandom(31)
    record = WrappedDek(azure.kid, "0" * 16, _kek(azure).public_key().encrypt(short, _oaep()))
    put_record(url, record.to_bytes())
    return {}


def _fingerprint_mismatch(azure: AzureFakes, url: str) -> dict[str, str]:
    dek = os.urandom(32)
    record = WrappedDek(azure.kid, "f" * 16, _kek(azure).public_key().encrypt(dek, _oaep()))
    put_record(url, record.to_bytes())
    return {}


def _record_for_another_key_version(azure: AzureFakes, url: str) -> dict[str, str]:
    dek = os.urandom(32)
    from enclave import dek_fingerprint

    other_kid = azure.kv.kid(KEY_NAME, azure.new_version())
    record = WrappedDek(
        other_kid, dek_fingerprint(dek), _kek(azure).public_key().encrypt(dek, _oaep())
    )
    put_record(url, record.to_bytes())
    return {}


def _corrupt_record(azure: AzureFakes, url: str) -> dict[str, str]:
    put_record(url, b"not a record")
    return {}


Setup = Callable[[AzureFakes, str], dict[str, str]]


@pytest.mark.parametrize(
    ("setup", "step", "hint"),
    [
        # the sidecar
        (_sidecar_not_ready, "sidecar.status", "not ready within 1 s"),
        (_sidecar_absent, "sidecar.status", "not ready within 1 s"),
        # the release
        (_release_forbidden, "sidecar.release", "403"),
        (_malformed_body, "sidecar.release", "not one JSON object"),
        (_no_key_member, "sidecar.release", "no 'key' member"),
        # the released key
        (_ec_key, "kek.parse", "only RSA or RSA-HSM"),
        (_small_modulus, "kek.parse", "1024 bits; at least 2048"),
        (_public_only, "kek.parse", "no private part"),
        # the stored DEK
        (_wrapped_under_another_kek, "dek.unwrap", "TAP_SKR_KEY_ID"),
        (_wrong_length, "dek.length", "31 bytes"),
        (_fingerprint_mismatch, "dek.fingerprint", "ffffffffffffffff"),
        (_record_for_another_key_version, "dek.kek", "wrapped under"),
        (_corrupt_record, "dek.record", "not JSON"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_custody_failure_stops_the_proxy(
    tmp_path: Path, database_url: str, azure: AzureFakes, setup: Setup, step: str, hint: str
) -> None:
    extra = setup(azure, database_url)
    code, log = startup_failure(tmp_path, enclave_env(tmp_path, database_url, azure, **extra))
    assert code == 1, log
    assert f"start-up failed: key custody failed at {step}:" in log, log
    assert hint in log, log
    assert "Traceback" not in log


@pytest.mark.parametrize("variable", ["TAP_ENCRYPTION_KEY", "TAP_ENCRYPTION_KEY_FILE"])
def test_enclave_mode_refuses_an_environment_key(
    tmp_path: Path, database_url: str, azure: AzureFakes, variable: str
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(TEST_KEY)
    env = enclave_env(tmp_path, database_url, azure)
    env[variable] = TEST_KEY if variable == "TAP_ENCRYPTION_KEY" else str(key_file)
    code, log = startup_failure(tmp_path, env)
    assert code == 2, log
    assert (
        f"{variable}: must not be set when TAP_FEATURES includes enclave" in log or variable in log
    )
    assert azure.sidecar.server.received == []


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("TAP_SKR_KEY_ID", None, "TAP_SKR_KEY_ID is required"),
        ("TAP_SKR_KEY_ID", "{kv}/keys/tap-kek", "must name a key version"),
        ("TAP_SKR_MAA_ENDPOINT", None, "TAP_SKR_MAA_ENDPOINT is required"),
        ("TAP_SKR_SIDECAR_URL", "http://10.0.0.5:8080", "the local sidecar"),
    ],
    ids=["no-key-id", "unversioned-key-id", "no-maa", "remote-sidecar"],
)
def test_bad_skr_settings_stop_the_proxy(
    tmp_path: Path,
    database_url: str,
    azure: AzureFakes,
    variable: str,
    value: str | None,
    hint: str,
) -> None:
    env = enclave_env(tmp_path, database_url, azure)
    if value is None:
        del env[variable]
    else:
        env[variable] = value.format(kv=azure.kv.url)
    code, log = startup_failure(tmp_path, env)
    assert code == 1, log
    assert "key custody failed at skr.settings:" in log and hint in log, log
