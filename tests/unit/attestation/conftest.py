"""Fixtures for the attestation unit tests.

The factories live in ``factories.py`` beside this file and are registered as
the module ``attestation_test_factories`` so that unit and integration tests
share one implementation whatever pytest's import mode.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_NAME = "attestation_test_factories"


def _load_factories() -> ModuleType:
    if _NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            _NAME, Path(__file__).with_name("factories.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[_NAME]


factories = _load_factories()

_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a proxy or a trust store it did not set itself."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="session")
def signing_key() -> Any:
    """The attestation endpoint's key (one per session: RSA generation is slow)."""
    return factories.make_signing_key()


@pytest.fixture(scope="session")
def attacker_key() -> Any:
    """A key nobody trusts."""
    return factories.make_signing_key("attacker-key")


@pytest.fixture(scope="session")
def loopback_tls(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return factories.make_loopback_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_client(loopback_tls: Any) -> Iterator[Any]:
    with loopback_tls.client() as client:
        yield client
