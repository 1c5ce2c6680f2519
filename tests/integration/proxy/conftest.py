from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tap import Tap, start_tap


@pytest.fixture
def tap(tmp_path: Path, database_url: str) -> Iterator[Tap]:
    running = start_tap(tmp_path, database_url, TAP_APPROVAL_TIMEOUT_SECS="60")
    yield running
    assert running.proxy.stop() == 0, running.proxy.log()
