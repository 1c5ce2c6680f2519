"""Fixtures shared by every suite: a real Postgres and a clean environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_resend import FakeResend
from tests.support.postgres import create_database, start_cluster
from tests.support.upstream import Upstream


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # No test may see the developer's TAP settings.
    for name in list(os.environ):
        if name.startswith(
            ("TAP_", "DANGEROUS_TAP_", "POSTGRES_", "TELEGRAM_", "MATRIX_", "RESEND_", "WEBAUTHN_")
        ):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    server = start_cluster(tmp_path_factory.mktemp("postgres"))
    yield server
    server.cleanup()


@pytest.fixture
def database_url(pg_cluster: Any) -> str:
    """A fresh, empty database for one test."""
    return create_database(pg_cluster)


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A recording upstream on loopback (what TAP forwarded, byte for byte)."""
    server = Upstream().start()
    yield server
    server.stop()


@pytest.fixture
def resend() -> Iterator[FakeResend]:
    """A fake email API on loopback that keeps every message TAP sent."""
    fake = FakeResend().start()
    yield fake
    fake.stop()
