"""``tap team ...``: the teams in this database, and giving a team an owner.

``tap`` acts on one team per command (``--team NAME`` or ``TAP_TEAM``;
``default`` without either). ``add-owner`` makes a person an owner of that team
so they can manage it in the dashboard: an account that does not exist yet is
created unverified with a password nobody knows, and its owner signs in by
asking for a reset code (``POST /forgot-password``, then ``/reset-password``),
which proves the address and verifies the account.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Final

import click

from app.admin import passwords
from app.admin.schemas import TEAM_NAME_PATTERN, EmailBody
from app.store import members, teams, users
from app.store.models import ApprovalMode, Team
from tools.cli.context import Access, CliContext
from tools.cli.errors import CliError, exit_on_error
from tools.cli.listing import list_command
from tools.cli.render import timestamp
from tools.cli.run import run

NEW_TEAM_MODE: Final[ApprovalMode] = "gated"


@dataclass(frozen=True, slots=True)
class _Listed:
    team: Team
    owners: list[str]


@click.group("team")
def team_group() -> None:
    """List teams, create one, give a team an owner."""


async def _with_owners(ctx: CliContext) -> list[_Listed]:
    listed = []
    for team in await teams.list_all(ctx.conn):
        people = await members.list_team(ctx.conn, team.id)
        listed.append(_Listed(team, [m.email for m in people if m.member_role == "owner"]))
    return listed


list_command(
    team_group,
    help="List every team with its owners (use the name with --team).",
    fetch=_with_owners,
    to_json=lambda i: {
        "name": i.team.name,
        "id": i.team.id,
        "default_approval_mode": i.team.default_approval_mode,
        "owners": i.owners,
        "created_at": i.team.created_at.isoformat(),
    },
    columns=[
        ("NAME", lambda i: i.team.name),
        ("ID", lambda i: i.team.id),
        ("MODE", lambda i: i.team.default_approval_mode),
        ("OWNERS", lambda i: ",".join(i.owners) or "-"),
        ("CREATED", lambda i: timestamp(i.team.created_at)),
    ],
    team=False,
)


@team_group.command("create")
@click.argument("name")
def team_create(name: str) -> None:
    """Create a team (gated); give it an owner with `tap --team NAME team add-owner EMAIL`."""
    checked = name.strip()
    if not re.fullmatch(TEAM_NAME_PATTERN, checked):  # the rule of signup's team_name
        with exit_on_error():
            raise CliError("team names are 3-64 lowercase letters, digits or hyphens", exit_code=2)

    async def action(ctx: CliContext) -> Team:
        if await teams.find(ctx.conn, checked) is not None:
            raise CliError(f"a team named {checked!r} already exists")
        return await teams.ensure_team(ctx.conn, f"team_{uuid.uuid4().hex}", checked, NEW_TEAM_MODE)

    team = run(action, Access.WRITE, team=False)
    click.echo(f"Created team {team.name} ({team.id})")


@team_group.command("add-owner")
@click.argument("email")
def team_add_owner(email: str) -> None:
    """Make EMAIL an owner of the team (the account is created if needed)."""
    with exit_on_error():
        address = EmailBody(email=email).email

    async def action(ctx: CliContext) -> tuple[bool, str]:
        user = await users.by_email(ctx.conn, address)
        created = user is None
        if user is None:
            # NOTE: a password nobody knows; the owner sets theirs with an emailed reset code.
            unusable = await passwords.hash_password(secrets.token_urlsafe(32))
            user = await users.create(ctx.conn, email=address, password_hash=unusable)
        member = await members.by_email(ctx.conn, ctx.team_id, address)
        if member is None:
            await members.add(ctx.conn, user_id=user.id, team_id=ctx.team_id, role="owner")
        elif member.member_role != "owner":
            await members.set_role(ctx.conn, ctx.team_id, user.id, "owner")
        return created, ctx.team_name

    created, team_name = run(action, Access.WRITE)
    click.echo(f"{address} is an owner of team {team_name}.")
    if created:
        click.echo(
            "The account is new: its owner signs in by requesting a password reset code "
            "(POST /forgot-password, then /reset-password), which also verifies the address."
        )
