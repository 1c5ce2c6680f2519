"""``tap agent ...``: agents, each with its own API key (shown once, at creation or rotation).

Changes pass the admin API's request models (``AgentCreateBody``,
``AgentUpdateBody``) and then the store, exactly as the API's do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import click

from app.admin.schemas import AgentCreateBody, AgentUpdateBody
from app.store import agents
from app.store.models import Agent
from tools.cli.context import Access, CliContext
from tools.cli.errors import CliError, exit_on_error
from tools.cli.listing import list_command
from tools.cli.render import emit_json, split_list
from tools.cli.run import run


def _agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "description": agent.description,
        "enabled": agent.enabled,
        "rate_limit_per_hour": agent.rate_limit_per_hour,
        "roles": list(agent.roles),
        "credentials": list(agent.direct_credentials),
        "effective_credentials": sorted(agent.effective_credentials),
    }


@click.group("agent")
def agent_group() -> None:
    """Create and manage agents (each has its own API key)."""


list_command(
    agent_group,
    help="List the team's agents and what they may use.",
    fetch=lambda ctx: agents.list_all(ctx.conn, ctx.team_id),
    to_json=_agent_json,
    columns=[
        ("NAME", lambda a: a.id),
        ("STATUS", lambda a: "enabled" if a.enabled else "disabled"),
        ("RATE/H", lambda a: str(a.rate_limit_per_hour or "-")),
        ("ROLES", lambda a: ",".join(a.roles) or "-"),
        ("CREDENTIALS", lambda a: ",".join(sorted(a.effective_credentials)) or "-"),
    ],
)


@agent_group.command("create")
@click.option("--name", required=True, help="Agent name (letters, digits, '_', '.', '-').")
@click.option("--description", default="", help="Human-readable description.")
@click.option("--roles", help="Comma-separated role names.")
@click.option("--credentials", "creds", help="Comma-separated credential names.")
@click.option("--rate-limit", type=click.IntRange(min=1), help="Requests per rolling hour.")
def agent_create(
    name: str, description: str, roles: str | None, creds: str | None, rate_limit: int | None
) -> None:
    """Create an agent and print its API key once."""
    with exit_on_error():
        body = AgentCreateBody(
            id=name,
            description=description,
            roles=split_list(roles),
            credentials=split_list(creds),
            rate_limit_per_hour=rate_limit,
        )

    async def action(ctx: CliContext) -> tuple[Agent, str]:
        return await agents.create(
            ctx.conn,
            ctx.keys,
            team_id=ctx.team_id,
            agent_id=body.id,
            description=body.description,
            roles=body.roles,
            credentials=body.credentials,
            rate_limit_per_hour=body.rate_limit_per_hour,
        )

    agent, api_key = run(action, Access.WRITE)
    click.echo(f"Created agent {agent.id}. Its key is shown once; store it now:", err=True)
    click.echo(f"TAP_API_KEY={api_key}")


@agent_group.command("update")
@click.argument("name")
@click.option("--description", help="New description.")
@click.option("--roles", help="Replace the roles (comma-separated; '' for none).")
@click.option("--credentials", "creds", help="Replace the direct credentials ('' for none).")
@click.option("--rate-limit", help="Requests per rolling hour, or 'none' to remove the limit.")
def agent_update(
    name: str, description: str | None, roles: str | None, creds: str | None, rate_limit: str | None
) -> None:
    """Change an agent's grants or limit; options not given stay as they are."""
    with exit_on_error():
        fields: dict[str, Any] = {}
        if description is not None:
            fields["description"] = description
        if roles is not None:
            fields["roles"] = split_list(roles)
        if creds is not None:
            fields["credentials"] = split_list(creds)
        clear_limit = rate_limit is not None and rate_limit.strip().lower() == "none"
        if rate_limit is not None and not clear_limit:
            # NOTE: the API's models are strict; a number must arrive as a number.
            try:
                fields["rate_limit_per_hour"] = int(rate_limit)
            except ValueError:
                raise CliError(
                    "--rate-limit: expected a whole number of requests per hour, or 'none'",
                    exit_code=2,
                ) from None
        if not fields and not clear_limit:
            raise CliError(
                "nothing to change: give --description, --roles, --credentials or --rate-limit",
                exit_code=2,
            )
        body = AgentUpdateBody.model_validate(fields)

    async def action(ctx: CliContext) -> Agent:
        return await agents.update(
            ctx.conn,
            ctx.team_id,
            name,
            description=body.description,
            roles=body.roles,
            credentials=body.credentials,
            rate_limit_per_hour=body.rate_limit_per_hour,
            clear_rate_limit=clear_limit,
        )

    agent = run(action, Access.WRITE)
    click.echo(
        f"Updated agent {agent.id}: credentials "
        f"{', '.join(sorted(agent.effective_credentials)) or '-'}, "
        f"rate limit {agent.rate_limit_per_hour or 'none'}"
    )


@agent_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def agent_show(name: str, as_json: bool) -> None:
    """Show an agent and its effective credentials."""

    async def action(ctx: CliContext) -> Agent:
        return await agents.get(ctx.conn, ctx.team_id, name)

    agent = run(action, Access.READ)
    if as_json:
        emit_json(_agent_json(agent))
        return
    data = _agent_json(agent)
    for key in ("id", "description", "enabled", "rate_limit_per_hour"):
        click.echo(f"{key}: {data[key]}")
    click.echo(f"roles: {', '.join(agent.roles) or '-'}")
    click.echo(f"direct credentials: {', '.join(agent.direct_credentials) or '-'}")
    click.echo(f"effective credentials: {', '.join(sorted(agent.effective_credentials)) or '-'}")


def _simple(
    verb: str, summary: str, func: Callable[[CliContext, str], Awaitable[Any]]
) -> click.Command:
    def command(name: str) -> None:
        async def action(ctx: CliContext) -> None:
            await func(ctx, name)

        run(action, Access.WRITE)
        click.echo(f"{verb} agent {name}")

    return agent_group.command(name=verb.lower().removesuffix("d"), help=summary)(
        click.argument("name")(command)
    )


_simple(
    "Enabled",
    "Re-enable a disabled agent.",
    lambda c, n: agents.set_enabled(c.conn, c.team_id, n, True),
)
_simple(
    "Disabled",
    "Disable an agent (its requests are refused).",
    lambda c, n: agents.set_enabled(c.conn, c.team_id, n, False),
)
_simple("Deleted", "Delete an agent and its key.", lambda c, n: agents.delete(c.conn, c.team_id, n))


@agent_group.command("rotate-key")
@click.argument("name")
def agent_rotate_key(name: str) -> None:
    """Give an agent a new key; the old one stops working."""

    async def action(ctx: CliContext) -> str:
        return await agents.rotate_key(ctx.conn, ctx.keys, ctx.team_id, name)

    api_key = run(action, Access.WRITE)
    click.echo(f"Rotated the key of {name}. The new key is shown once:", err=True)
    click.echo(f"TAP_API_KEY={api_key}")
