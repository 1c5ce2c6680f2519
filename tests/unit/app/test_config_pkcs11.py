"""``TAP_PKCS11_*``: HSM custody is selected by the module and excludes every other key source."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Config, Pkcs11Settings
from app.errors import ConfigError

KEY = "ab" * 32
MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def test_without_a_module_custody_is_not_hsm() -> None:
    config = Config.from_env({"TAP_ENCRYPTION_KEY": KEY})
    assert not config.hsm
    assert config.pkcs11 == Pkcs11Settings()


def test_module_selects_hsm_custody_with_its_settings() -> None:
    config = Config.from_env(
        {
            "TAP_PKCS11_MODULE": MODULE,
            "TAP_PKCS11_TOKEN_LABEL": "tap",
            "TAP_PKCS11_PIN_FILE": "/run/secrets/hsm-pin",
        }
    )
    assert config.hsm
    assert config.pkcs11 == Pkcs11Settings(
        module=Path(MODULE),
        token_label="tap",
        key_label="tap-kek",
        pin_file=Path("/run/secrets/hsm-pin"),
    )
    assert config.encryption_key is None and config.encryption_key_file is None


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        ({"TAP_ENCRYPTION_KEY": KEY}, "TAP_ENCRYPTION_KEY", "selects HSM custody"),
        ({"TAP_ENCRYPTION_KEY_FILE": "/k"}, "TAP_ENCRYPTION_KEY_FILE", "selects HSM custody"),
        ({"TAP_FEATURES": "enclave"}, "TAP_PKCS11_MODULE", "exclude each other"),
    ],
)
def test_hsm_custody_refuses_other_key_sources(
    env: dict[str, str], variable: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"TAP_PKCS11_MODULE": MODULE, **env})
    assert caught.value.variable == variable
    assert fragment in str(caught.value)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    "detail", ["TAP_PKCS11_TOKEN_LABEL", "TAP_PKCS11_KEY_LABEL", "TAP_PKCS11_PIN_FILE"]
)
def test_hsm_details_without_a_module_are_refused(detail: str) -> None:
    # Otherwise a forgotten module line would quietly start in env custody.
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"TAP_ENCRYPTION_KEY": KEY, detail: "x"})
    assert caught.value.variable == "TAP_PKCS11_MODULE"
    assert f"is required when {detail} is set" in str(caught.value)
