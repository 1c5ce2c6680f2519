"""``enclave.hsm`` without an HSM: the stored record, the settings, the PIN file, the surface."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

import enclave
import enclave.hsm
from app.config import Config, Pkcs11Settings
from enclave import CustodyError, dek_fingerprint, load_key_provider
from enclave.hsm import HsmKeyProvider, HsmTarget, HsmWrappedDek

DEK = bytes(range(32))
WRAPPED = bytes(range(40))


def _record(**members: object) -> bytes:
    record: dict[str, object] = {
        "alg": "AES-KEY-WRAP-PAD",
        "fingerprint": dek_fingerprint(DEK),
        "kek": "tap-kek",
        "v": 1,
        "wrapped": base64.b64encode(WRAPPED).decode(),
    }
    record.update(members)
    return json.dumps({k: v for k, v in record.items() if v is not None}).encode()


def test_exports_are_exact_and_sorted() -> None:
    assert enclave.hsm.__all__ == sorted(enclave.hsm.__all__)
    public = {n for n in dir(enclave.hsm) if not n.startswith("_")} - {"annotations"}
    assert public == set(enclave.hsm.__all__)


def test_record_round_trips_in_canonical_form() -> None:
    record = HsmWrappedDek("tap-kek", dek_fingerprint(DEK), WRAPPED)
    raw = record.to_bytes()
    assert HsmWrappedDek.from_bytes(raw) == record
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    assert DEK.hex() not in raw.decode()


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"\xff", "not JSON"),
        (b"[]", "not a JSON object"),
        (b"x" * 20_000, "too large"),
        (_record(alg="RSA-OAEP-256"), "another custody mode"),
        (_record(v=2), "version 2"),
        (_record(extra="x"), "unexpected members"),
        (_record(kek=None), "unexpected members"),
        (_record(kek=7), "wrong type"),
        (_record(wrapped="not base64!"), "not standard base64"),
        (_record(wrapped=base64.b64encode(b"short").decode()), "impossible length"),
        (_record(fingerprint="F" * 16), "malformed fingerprint"),
        (_record(kek=""), "malformed key label"),
    ],
)
def test_malformed_records_are_refused(raw: bytes, fragment: str) -> None:
    with pytest.raises(CustodyError) as caught:
        HsmWrappedDek.from_bytes(raw)
    assert caught.value.step == "dek.record"
    assert fragment in caught.value.problem


def _settings(tmp_path: Path, **changes: object) -> Pkcs11Settings:
    base = {
        "module": Path("/usr/lib/softhsm/libsofthsm2.so"),
        "token_label": "tap",
        "key_label": "tap-kek",
        "pin_file": tmp_path / "pin",
    }
    base.update(changes)
    return Pkcs11Settings(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"module": Path("libsofthsm2.so")}, "absolute path"),
        ({"token_label": None}, "TAP_PKCS11_TOKEN_LABEL is required"),
        ({"token_label": "t" * 33}, "longer than a token label"),
        ({"key_label": ""}, "TAP_PKCS11_KEY_LABEL must be"),
        ({"key_label": "k" * 129}, "TAP_PKCS11_KEY_LABEL must be"),
        ({"pin_file": None}, "TAP_PKCS11_PIN_FILE is required"),
    ],
)
def test_incomplete_settings_fail_at_hsm_settings(
    tmp_path: Path, changes: dict[str, object], fragment: str
) -> None:
    with pytest.raises(CustodyError) as caught:
        HsmTarget.from_settings(_settings(tmp_path, **changes))
    assert caught.value.step == "hsm.settings"
    assert fragment in caught.value.problem


def test_pin_file_keeps_the_pin_and_drops_the_line_end(tmp_path: Path) -> None:
    (tmp_path / "pin").write_text(" 12 34\r\n")
    assert HsmTarget.from_settings(_settings(tmp_path)).read_pin() == " 12 34"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "cannot read"),
        ("\n", "is empty"),
        ("1" * 2000, "too large"),
        (b"\xff\xfe", "not text"),
    ],
)
def test_unusable_pin_files_fail_at_hsm_pin(
    tmp_path: Path, content: str | bytes | None, fragment: str
) -> None:
    path = tmp_path / "pin"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(CustodyError) as caught:
        HsmTarget.from_settings(_settings(tmp_path)).read_pin()
    assert caught.value.step == "hsm.pin"
    assert fragment in caught.value.problem
    assert "1" * 20 not in str(caught.value)


def test_the_module_selects_the_hsm_provider(tmp_path: Path) -> None:
    config = Config.from_env(
        {
            "TAP_PKCS11_MODULE": "/usr/lib/softhsm/libsofthsm2.so",
            "TAP_PKCS11_TOKEN_LABEL": "tap",
            "TAP_PKCS11_PIN_FILE": str(tmp_path / "pin"),
        }
    )
    provider = load_key_provider(config)
    assert isinstance(provider, HsmKeyProvider) and provider.name == "pkcs11"


def test_env_custody_loads_no_pkcs11_code() -> None:
    code = (
        "import sys, enclave, app.runtime, tools.cli.enclave;"
        "bad = [m for m in sys.modules if m.startswith(('pkcs11', 'enclave.hsm'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hsm_custody_without_the_extra_names_it() -> None:
    code = (
        "import sys; sys.modules['pkcs11'] = None\n"
        "from app.config import Config\n"
        "from enclave import CustodyError, load_key_provider\n"
        "config = Config.from_env({'TAP_PKCS11_MODULE': '/x.so', 'TAP_PKCS11_TOKEN_LABEL': 't',"
        " 'TAP_PKCS11_PIN_FILE': '/p'})\n"
        "try:\n"
        "    load_key_provider(config)\n"
        "except CustodyError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "key custody failed at hsm.settings: HSM custody needs the hsm extra" in result.stdout
    assert "pip install '.[hsm]'" in result.stdout
