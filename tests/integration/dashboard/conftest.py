"""The admin API in-process, with loopback upstreams allowed, for the endpoints the dashboard added."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.admin_api import Api, running_api


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    async with running_api(
        tmp_path, database_url, DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS="1"
    ) as running:
        yield running
