"""One way to build a ``list`` command: fetch in a read-only context, print a table or JSON.

Every group's ``list`` is declared, not written: what to fetch, how a row
looks as JSON, and which columns a person sees.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import click

from tools.cli.context import Access, CliContext
from tools.cli.render import emit_json, table
from tools.cli.run import run

T = TypeVar("T")

Column = tuple[str, Callable[[T], str]]


def list_command(
    group: click.Group,
    *,
    help: str,
    fetch: Callable[[CliContext], Awaitable[Sequence[T]]],
    to_json: Callable[[T], dict[str, Any]],
    columns: Sequence[Column[T]],
    team: bool = True,
) -> click.Command:
    """Add ``list [--json]`` to ``group``: ``fetch`` runs read-only on the command's team."""

    def command(as_json: bool) -> None:
        items = run(fetch, Access.READ, team=team)
        if as_json:
            emit_json([to_json(item) for item in items])
            return
        table(
            [[render(item) for _, render in columns] for item in items],
            [title for title, _ in columns],
        )

    option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    return group.command("list", help=help)(option(command))
