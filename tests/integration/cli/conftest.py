"""The CLI against a real, initialised Postgres: ``run(...)`` invokes ``tap`` through CliRunner."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from tests.support.proxy import TEST_KEY
from tools.cli import main

Run = Callable[..., Result]


@pytest.fixture
def run(database_url: str) -> Run:
    def invoke(*args: str, input: str | None = None, key: str = TEST_KEY, **env: str) -> Result:
        full_env = {"POSTGRES_DATABASE_URL": database_url, "TAP_ENCRYPTION_KEY": key, **env}
        return CliRunner().invoke(main, list(args), input=input, env=full_env)

    assert invoke("init").exit_code == 0
    return invoke


def one_line_error(result: Result) -> str:
    """The single error line of a failed command (asserting there is exactly one)."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
