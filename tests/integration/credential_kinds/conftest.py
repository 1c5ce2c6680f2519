from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.support.admin_api import Api, running_api
from tests.support.tap import Tap, start_tap
from tests.support.upstream import Upstream

AddKind = Callable[..., None]


@pytest.fixture
def tap(tmp_path: Path, database_url: str) -> Iterator[Tap]:
    running = start_tap(tmp_path, database_url)
    yield running
    assert running.proxy.stop() == 0, running.proxy.log()


@pytest.fixture
def add_kind(tap: Tap) -> AddKind:
    """``tap add --auth KIND`` with public fields as flags and secret ones on stdin (never argv)."""

    def add(name: str, auth: str, secrets: dict[str, str], *flags: str) -> None:
        tap.ok(
            "add",
            "--name",
            name,
            "--description",
            f"{name} api",
            "--auth",
            auth,
            "--value-file",
            "-",
            *flags,
            input=json.dumps(secrets),
        )

    return add


@pytest.fixture
def served() -> Iterator[Callable[..., Upstream]]:
    """Start recording upstreams driven by a handler; all stopped at the end."""
    started: list[Upstream] = []

    def start(handler: Callable[..., object]) -> Upstream:
        upstream = Upstream(handler=handler).start()  # type: ignore[arg-type]
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        upstream.stop()


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """The admin API in-process (the app's startup and shutdown run)."""
    async with running_api(tmp_path, database_url) as running:
        yield running
