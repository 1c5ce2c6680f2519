"""Every HSM custody failure stops tap-proxy: exit 1 and one line naming the step.

Each case breaks one link (settings, module, token, PIN, key, stored record)
and starts a real tap-proxy in HSM mode against SoftHSM2. There is never a
fallback to an environment key, and the PIN never reaches the log.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, MechanismFlag

from enclave import dek_fingerprint
from enclave.azure import WrappedDek
from enclave.hsm import HsmTarget, HsmWrappedDek
from enclave.hsm._token import open_token
from tests.enclave._boot import put_record
from tests.enclave.hsm._boot import hsm_env, startup_failure
from tests.enclave.hsm.conftest import KEY_LABEL, USER_PIN, SoftHsm
from tests.support.proxy import TEST_KEY

WRONG_PIN = "135792"

Setup = Callable[[SoftHsm, str, Path], dict[str, str]]


def _target(hsm: SoftHsm, label: str) -> HsmTarget:
    return HsmTarget(hsm.module, hsm.token_label, label, hsm.pin_file)


def _wrapped(hsm: SoftHsm, label: str, dek: bytes) -> bytes:
    with open_token(_target(hsm, label)) as token:
        return token.wrap(dek)


def _add_key(hsm: SoftHsm, label: str, bits: int = 256, **template: bool) -> None:
    """A key made outside ``hsm-init``, with the attributes a test needs."""
    lib = pkcs11.lib(str(hsm.module))
    try:
        with lib.get_token(token_label=hsm.token_label).open(rw=True, user_pin=USER_PIN) as s:
            s.generate_key(
                KeyType.AES,
                bits,
                label=label,
                store=True,
                capabilities=MechanismFlag.WRAP | MechanismFlag.UNWRAP,
                template={getattr(Attribute, k.upper()): v for k, v in template.items()},
            )
    finally:
        lib.finalize()


def _wrong_pin(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    pin = tmp / "wrong-pin"
    pin.write_text(WRONG_PIN + "\n")
    return {"TAP_PKCS11_PIN_FILE": str(pin)}


def _missing_pin_file(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    return {"TAP_PKCS11_PIN_FILE": str(tmp / "no-such-pin")}


def _empty_pin_file(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    pin = tmp / "empty-pin"
    pin.write_text("\n")
    return {"TAP_PKCS11_PIN_FILE": str(pin)}


def _missing_module(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    return {"TAP_PKCS11_MODULE": str(tmp / "no-such-hsm.so")}


def _not_a_module(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    fake = tmp / "fake-hsm.so"
    fake.write_bytes(b"\x7fELF not really")
    return {"TAP_PKCS11_MODULE": str(fake)}


def _relative_module(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    return {"TAP_PKCS11_MODULE": hsm.module.name}


def _no_token_label(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    return {"TAP_PKCS11_TOKEN_LABEL": ""}


def _missing_token(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    return {"TAP_PKCS11_TOKEN_LABEL": "not-plugged-in"}


def _missing_key_label(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    return {"TAP_PKCS11_KEY_LABEL": "no-such-key"}


def _extractable_key(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    _add_key(hsm, "loose", sensitive=False, extractable=True)
    return {"TAP_PKCS11_KEY_LABEL": "loose"}


def _short_key(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    _add_key(hsm, "short", bits=128, sensitive=True, extractable=False)
    return {"TAP_PKCS11_KEY_LABEL": "short"}


def _two_keys_one_label(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    _add_key(hsm, KEY_LABEL, sensitive=True, extractable=False)
    return {}


def _wrapped_under_another_key(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    _add_key(hsm, "other", sensitive=True, extractable=False)
    dek = os.urandom(32)
    record = HsmWrappedDek(KEY_LABEL, dek_fingerprint(dek), _wrapped(hsm, "other", dek))
    put_record(url, record.to_bytes())
    return {}


def _fingerprint_mismatch(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    record = HsmWrappedDek(KEY_LABEL, "f" * 16, _wrapped(hsm, KEY_LABEL, os.urandom(32)))
    put_record(url, record.to_bytes())
    return {}


def _altered_record(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    dek = os.urandom(32)
    wrapped = bytearray(_wrapped(hsm, KEY_LABEL, dek))
    wrapped[5] ^= 0x01
    put_record(url, HsmWrappedDek(KEY_LABEL, dek_fingerprint(dek), bytes(wrapped)).to_bytes())
    return {}


def _record_for_another_key(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    dek = os.urandom(32)
    record = HsmWrappedDek("retired-kek", dek_fingerprint(dek), _wrapped(hsm, KEY_LABEL, dek))
    put_record(url, record.to_bytes())
    return {}


def _enclave_record(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    record = WrappedDek("https://vault.example/keys/k/1", "0" * 16, b"\x01" * 256)
    put_record(url, record.to_bytes())
    return {}


def _corrupt_record(hsm: SoftHsm, url: str, tmp: Path) -> dict[str, str]:
    put_record(url, b"not a record")
    return {}


@pytest.mark.parametrize(
    ("setup", "step", "hint"),
    [
        # the settings and the PIN file
        (_relative_module, "hsm.settings", "must be an absolute path"),
        (_no_token_label, "hsm.settings", "TAP_PKCS11_TOKEN_LABEL is required"),
        (_missing_pin_file, "hsm.pin", "cannot read TAP_PKCS11_PIN_FILE"),
        (_empty_pin_file, "hsm.pin", "is empty"),
        # the HSM
        (_missing_module, "hsm.module", "cannot load the PKCS#11 module"),
        (_not_a_module, "hsm.module", "cannot load the PKCS#11 module"),
        (_missing_token, "hsm.token", "no token labelled 'not-plugged-in'"),
        (_wrong_pin, "hsm.login", "PIN incorrect"),
        (_missing_key_label, "hsm.key", "no secret key labelled 'no-such-key'"),
        (_extractable_key, "hsm.key", "can leave the token"),
        (_short_key, "hsm.key", "is 128 bits; at least 256"),
        (_two_keys_one_label, "hsm.key", "holds 2 keys labelled 'tap-kek'"),
        # the stored DEK
        (_wrapped_under_another_key, "dek.unwrap", "cannot open the stored DEK"),
        (_altered_record, "dek.unwrap", "cannot open the stored DEK"),
        (_fingerprint_mismatch, "dek.fingerprint", "ffffffffffffffff"),
        (_record_for_another_key, "dek.kek", "'retired-kek'"),
        (_enclave_record, "dek.record", "another custody mode"),
        (_corrupt_record, "dek.record", "not JSON"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_custody_failure_stops_the_proxy(
    tmp_path: Path, database_url: str, softhsm: SoftHsm, setup: Setup, step: str, hint: str
) -> None:
    softhsm.init_key(database_url)
    extra = setup(softhsm, database_url, tmp_path)
    code, log = startup_failure(tmp_path, hsm_env(tmp_path, database_url, softhsm, **extra))
    assert code == 1, log
    assert f"start-up failed: key custody failed at {step}:" in log, log
    assert hint in log, log
    assert "Traceback" not in log
    assert USER_PIN not in log and WRONG_PIN not in log


@pytest.mark.parametrize("variable", ["TAP_ENCRYPTION_KEY", "TAP_ENCRYPTION_KEY_FILE"])
def test_hsm_mode_refuses_an_environment_key(
    tmp_path: Path, database_url: str, softhsm: SoftHsm, variable: str
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(TEST_KEY)
    env = hsm_env(tmp_path, database_url, softhsm)
    env[variable] = TEST_KEY if variable == "TAP_ENCRYPTION_KEY" else str(key_file)
    code, log = startup_failure(tmp_path, env)
    assert code == 2, log
    assert f"{variable}: must not be set when TAP_PKCS11_MODULE selects HSM custody" in log, log
    assert TEST_KEY not in log


def test_hsm_settings_without_a_module_do_not_start_in_env_custody(
    tmp_path: Path, database_url: str, softhsm: SoftHsm
) -> None:
    # A forgotten TAP_PKCS11_MODULE must not quietly run on the env key.
    env = hsm_env(tmp_path, database_url, softhsm, TAP_ENCRYPTION_KEY=TEST_KEY)
    del env["TAP_PKCS11_MODULE"]
    code, log = startup_failure(tmp_path, env)
    assert code == 2, log
    assert "TAP_PKCS11_MODULE: is required when TAP_PKCS11_TOKEN_LABEL is set" in log, log


def test_hsm_and_enclave_custody_exclude_each_other(
    tmp_path: Path, database_url: str, softhsm: SoftHsm
) -> None:
    env = hsm_env(tmp_path, database_url, softhsm, TAP_FEATURES="enclave")
    code, log = startup_failure(tmp_path, env)
    assert code == 2, log
    assert "HSM custody and TAP_FEATURES=enclave exclude each other" in log, log
