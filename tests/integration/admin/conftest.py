from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.admin_api import Api, RemoteApi, resend_env, running_api
from tests.support.fake_resend import FakeResend
from tests.support.tap import start_tap


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    async with running_api(tmp_path, database_url) as running:
        yield running


@pytest.fixture
async def remote(tmp_path: Path, database_url: str) -> AsyncIterator[RemoteApi]:
    """The admin API of a real tap-proxy behind a trusted "nginx" (127.0.0.1), mailing a fake Resend."""
    resend = FakeResend().start()
    tap = start_tap(
        tmp_path, database_url, TAP_TRUSTED_PROXIES="127.0.0.1/32", **resend_env(resend)
    )
    try:
        yield RemoteApi(tap.url, resend)
    finally:
        assert tap.proxy.stop() == 0, tap.proxy.log()
        resend.stop()
