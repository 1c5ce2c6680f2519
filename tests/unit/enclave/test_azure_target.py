"""TAP_SKR_* settings as the provider reads them (enclave/azure/_target.py)."""

from __future__ import annotations

import pytest

from app.config import Config
from enclave import CustodyError
from enclave.azure import SkrTarget

VAULT = "https://tap-kv.vault.azure.net"
VERSION = "0123456789abcdef0123456789abcdef"
GOOD = {
    "TAP_FEATURES": "enclave",
    "TAP_SKR_MAA_ENDPOINT": "https://sharedeus.eus.attest.azure.net",
    "TAP_SKR_AKV_ENDPOINT": VAULT,
    "TAP_SKR_KEY_ID": f"{VAULT}/keys/tap-kek/{VERSION}",
}


def _target(**changes: str | None) -> SkrTarget:
    env = {**GOOD, **changes}
    return SkrTarget.from_settings(
        Config.from_env({k: v for k, v in env.items() if v is not None}).skr
    )


def test_valid_settings() -> None:
    target = _target()
    assert target.maa_host == "sharedeus.eus.attest.azure.net"
    assert target.akv_host == "tap-kv.vault.azure.net"
    assert target.sidecar_kid == f"tap-kek/{VERSION}"
    assert target.kid == GOOD["TAP_SKR_KEY_ID"]
    assert target.sidecar_url == "http://127.0.0.1:8080"
    assert target.wait_secs == 60


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"TAP_SKR_MAA_ENDPOINT": None}, "TAP_SKR_MAA_ENDPOINT is required"),
        ({"TAP_SKR_AKV_ENDPOINT": None}, "TAP_SKR_AKV_ENDPOINT is required"),
        ({"TAP_SKR_KEY_ID": None}, "TAP_SKR_KEY_ID is required"),
        ({"TAP_SKR_MAA_ENDPOINT": "http://sharedeus.eus.attest.azure.net"}, "https origin"),
        ({"TAP_SKR_KEY_ID": f"{VAULT}/keys/tap-kek"}, "must name a key version"),
        ({"TAP_SKR_KEY_ID": f"{VAULT}/secrets/tap-kek/{VERSION}"}, "must name a key version"),
        ({"TAP_SKR_KEY_ID": f"https://other.vault.azure.net/keys/tap-kek/{VERSION}"}, "not on"),
        ({"TAP_SKR_KEY_ID": f"{VAULT}/keys/tap_kek!/{VERSION}"}, "malformed"),
        ({"TAP_SKR_SIDECAR_URL": "http://10.1.2.3:8080"}, "the local sidecar"),
        ({"TAP_SKR_SIDECAR_URL": "https://127.0.0.1:8080"}, "the local sidecar"),
    ],
    ids=[
        "no-maa",
        "no-akv",
        "no-kid",
        "http-maa",
        "unversioned",
        "secret",
        "other-vault",
        "bad-name",
        "remote-sidecar",
        "https-sidecar",
    ],
)
def test_bad_settings_are_refused(changes: dict[str, str | None], fragment: str) -> None:
    with pytest.raises(CustodyError, match=fragment) as info:
        _target(**changes)
    assert info.value.step == "skr.settings"
