"""``tap init``: create TAP's database and key where the server will look for them.

The only command that creates anything: the embedded database in the data
folder (or the schema in ``POSTGRES_DATABASE_URL``), the key file when no key
is configured, the migrations and the key canary, exactly as the server's
first start does. Running it again changes nothing.
"""

from __future__ import annotations

import click

from tools.cli.context import Access, CliContext
from tools.cli.run import run, settings


@click.command("init")
def init() -> None:
    """Create the database and key where the server looks (once; safe to repeat)."""

    async def action(ctx: CliContext) -> str:
        return ctx.keys.fingerprint

    fingerprint = run(action, Access.INIT, team=False)
    click.echo(
        f"TAP data ready in {settings().describe_database()} (key fingerprint {fingerprint})"
    )
