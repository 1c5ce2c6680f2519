"""Run one command's action against the database, inside the one error handler.

A command module builds an ``async def action(ctx: CliContext)`` and hands it
to :func:`run` with the access it needs; everything else (settings, the
database, the key, the team, the transaction, errors) happens here, the same
way for every command.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click

from tools.cli.context import Access, CliContext, Settings, open_context
from tools.cli.errors import exit_on_error

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Options:
    """The options of the ``tap`` group that every command shares."""

    team: str
    verbose: bool


def options() -> Options:
    """The shared options of the running command."""
    obj = click.get_current_context().find_root().obj
    assert isinstance(obj, Options)
    return obj


def settings() -> Settings:
    """The settings from the environment. Raises ConfigError."""
    return Settings.load(os.environ, Path.cwd())


def run(action: Callable[[CliContext], Awaitable[T]], access: Access, *, team: bool = True) -> T:
    """Run ``action`` in a context on the command's team (or none); exit with one line on error."""
    with exit_on_error():
        loaded = settings()
        team_name = options().team if team else None

        async def go() -> T:
            async with open_context(loaded, access, team_name) as ctx:
                return await action(ctx)

        return asyncio.run(go())
    raise AssertionError("unreachable")  # exit_on_error exits on every error
