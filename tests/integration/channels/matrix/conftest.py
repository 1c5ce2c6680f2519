"""A real Synapse homeserver for the Matrix channel tests, one per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.synapse import Synapse


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    """Synapse on loopback with SQLite; tests register their own users and rooms."""
    server = Synapse.start(tmp_path_factory.mktemp("synapse"))
    yield server
    server.stop()
