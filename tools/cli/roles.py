"""``tap role ...``: bundles of credentials that agents are given."""

from __future__ import annotations

import click

from app.admin.schemas import RoleCreateBody
from app.store import roles
from app.store.models import Role
from tools.cli.context import Access, CliContext
from tools.cli.errors import exit_on_error
from tools.cli.listing import list_command
from tools.cli.render import split_list
from tools.cli.run import run


@click.group("role")
def role_group() -> None:
    """Bundle credentials into roles that agents are given."""


list_command(
    role_group,
    help="List the team's roles and the credentials each grants.",
    fetch=lambda ctx: roles.list_all(ctx.conn, ctx.team_id),
    to_json=lambda r: {
        "name": r.name,
        "description": r.description,
        "rate_limit_per_hour": r.rate_limit_per_hour,
        "credentials": list(r.credentials),
    },
    columns=[
        ("NAME", lambda r: r.name),
        ("CREDENTIALS", lambda r: ",".join(r.credentials) or "-"),
        ("RATE/H", lambda r: str(r.rate_limit_per_hour or "-")),
        ("DESCRIPTION", lambda r: r.description),
    ],
)


@role_group.command("create")
@click.option("--name", required=True, help="Role name.")
@click.option("--description", default="", help="Human-readable description.")
@click.option("--credentials", "creds", help="Comma-separated credential names.")
@click.option("--rate-limit", type=click.IntRange(min=1), help="Requests per rolling hour.")
def role_create(name: str, description: str, creds: str | None, rate_limit: int | None) -> None:
    """Create a role."""
    with exit_on_error():
        body = RoleCreateBody(
            name=name,
            description=description,
            credentials=split_list(creds),
            rate_limit_per_hour=rate_limit,
        )

    async def action(ctx: CliContext) -> Role:
        return await roles.create(
            ctx.conn,
            team_id=ctx.team_id,
            name=body.name,
            description=body.description,
            credentials=body.credentials,
            rate_limit_per_hour=body.rate_limit_per_hour,
        )

    role = run(action, Access.WRITE)
    click.echo(f"Created role {role.name}")


@role_group.command("add-credential")
@click.argument("role")
@click.argument("credential")
def role_add_credential(role: str, credential: str) -> None:
    """Let a role grant one more credential."""

    async def action(ctx: CliContext) -> None:
        await roles.add_credential(ctx.conn, ctx.team_id, role, credential)

    run(action, Access.WRITE)
    click.echo(f"Role {role} now grants {credential}")


@role_group.command("remove-credential")
@click.argument("role")
@click.argument("credential")
def role_remove_credential(role: str, credential: str) -> None:
    """Stop a role granting a credential."""

    async def action(ctx: CliContext) -> None:
        await roles.remove_credential(ctx.conn, ctx.team_id, role, credential)

    run(action, Access.WRITE)
    click.echo(f"Role {role} no longer grants {credential}")


@role_group.command("delete")
@click.argument("name")
def role_delete(name: str) -> None:
    """Delete a role (agents lose what it granted)."""

    async def action(ctx: CliContext) -> None:
        await roles.delete(ctx.conn, ctx.team_id, name)

    run(action, Access.WRITE)
    click.echo(f"Deleted role {name}")
