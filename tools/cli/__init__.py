"""``tap``: the operator CLI for self-hosted TAP.

Management commands work directly on the server's database with the server's
key (see :mod:`tools.cli.context`), on one team per command; ``tap status``
asks a running proxy; ``tap logs`` reads the JSONL audit file;
``tap audit verify`` checks its hash chain, or the database's. Each command
group is one module: it parses, validates with the admin API's own models,
calls the store or the shared approval rules, and renders. Errors end as one
line on stderr and a non-zero exit (``--verbose`` adds the traceback); see
:mod:`tools.cli.errors`.

NOTE: no secret is read from argv. Keys come from the environment or a key
file, credential values from a hidden prompt or a file.
"""

from __future__ import annotations

import logging

import click

from tools.cli.agents import agent_group
from tools.cli.approvals import approvals_group, approve, deny
from tools.cli.audit import audit_group
from tools.cli.credentials import add, credential_group
from tools.cli.enclave import enclave_group
from tools.cli.initialize import init
from tools.cli.key import key_group
from tools.cli.logs import logs
from tools.cli.policies import policy_group
from tools.cli.roles import role_group
from tools.cli.run import Options
from tools.cli.status import status
from tools.cli.team import team_group

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--team",
    envvar="TAP_TEAM",
    show_envvar=True,
    default="default",
    show_default=True,
    help="The team to act on (`tap team list` shows them).",
)
@click.option("--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, team: str, verbose: bool) -> None:
    """Manage a self-hosted TAP: credentials, agents, roles, policies and approvals.

    Uses POSTGRES_DATABASE_URL, or the embedded database in TAP_DATA_DIR (default:
    the data folder of the TAP project, as `make run` uses). Only `tap init`
    creates a database or a key.
    """
    # Warnings from the library (a generated key, a break-glass decision) reach stderr as
    # lines; a host program that configured logging already keeps its own setup.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if not team.strip():
        raise click.BadParameter("give a team name", param_hint="--team / TAP_TEAM")
    ctx.obj = Options(team=team.strip(), verbose=verbose)


for command in (
    init,
    add,
    credential_group,
    agent_group,
    role_group,
    policy_group,
    approvals_group,
    approve,
    deny,
    team_group,
    status,
    logs,
    audit_group,
    enclave_group,
    key_group,
):
    main.add_command(command)
