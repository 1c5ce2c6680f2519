"""``tap policy ...``: which requests run at once and which wait for a human.

``policy set`` replaces the whole policy, as ``PUT /team/policies/{cred}`` does,
through the same request model; only ``--require-approval-urls`` keeps its
stored list when omitted.
"""

from __future__ import annotations

from typing import Any

import click

from app.admin.schemas import PolicyBody
from app.store import credentials, policies
from app.store.models import Policy
from tools.cli.context import Access, CliContext
from tools.cli.errors import exit_on_error
from tools.cli.render import emit_json, split_list
from tools.cli.run import run


def _policy_json(policy: Policy) -> dict[str, Any]:
    return {
        "credential": policy.credential_name,
        "auto_approve_methods": list(policy.auto_approve_methods),
        "require_approval_methods": list(policy.require_approval_methods),
        "auto_approve_urls": list(policy.auto_approve_urls),
        "require_approval_urls": list(policy.require_approval_urls),
        "allowed_approvers": list(policy.allowed_approvers),
        "require_passkey": policy.require_passkey,
        "min_approvals": policy.min_approvals,
    }


@click.group("policy")
def policy_group() -> None:
    """Decide which requests run at once and which wait for a human."""


@policy_group.command("show")
@click.argument("credential")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def policy_show(credential: str, as_json: bool) -> None:
    """Show the approval policy of CREDENTIAL."""

    async def action(ctx: CliContext) -> Policy | None:
        await credentials.get(ctx.conn, ctx.team_id, credential)
        return await policies.get(ctx.conn, ctx.team_id, credential)

    policy = run(action, Access.READ)
    if policy is None:
        if as_json:
            emit_json(None)
        else:
            click.echo(
                f"No policy for {credential}: the team default applies (gated: reads run, writes wait)."
            )
        return
    data = _policy_json(policy)
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key}: {', '.join(value) if isinstance(value, list) else value}")


@policy_group.command("set")
@click.argument("credential")
@click.option("--auto-approve-methods", help="Comma-separated, e.g. GET,HEAD.")
@click.option("--require-approval-methods", help="Comma-separated, e.g. POST,DELETE.")
@click.option("--auto-approve-urls", help="Comma-separated path or host/path patterns.")
@click.option("--require-approval-urls", help="Comma-separated; kept as is when omitted.")
@click.option(
    "--allowed-approver",
    "allowed_approvers",
    multiple=True,
    help="Only these people (emails) may decide (repeatable).",
)
@click.option("--require-passkey", is_flag=True, help="Approvals need a passkey step.")
@click.option("--min-approvals", type=click.IntRange(min=1), default=1, show_default=True)
def policy_set(
    credential: str,
    auto_approve_methods: str | None,
    require_approval_methods: str | None,
    auto_approve_urls: str | None,
    require_approval_urls: str | None,
    allowed_approvers: tuple[str, ...],
    require_passkey: bool,
    min_approvals: int,
) -> None:
    """Replace the policy of CREDENTIAL."""
    with exit_on_error():
        body = PolicyBody(
            auto_approve_methods=split_list(auto_approve_methods),
            require_approval_methods=split_list(require_approval_methods),
            auto_approve_urls=split_list(auto_approve_urls),
            require_approval_urls=split_list(require_approval_urls)
            if require_approval_urls is not None
            else None,
            allowed_approvers=list(allowed_approvers),
            require_passkey=require_passkey,
            min_approvals=min_approvals,
        )

    async def action(ctx: CliContext) -> Policy:
        policy = Policy(
            team_id=ctx.team_id,
            credential_name=credential,
            auto_approve_methods=policies.normalize_methods(
                "auto_approve_methods", body.auto_approve_methods
            ),
            require_approval_methods=policies.normalize_methods(
                "require_approval_methods", body.require_approval_methods
            ),
            auto_approve_urls=policies.normalize_urls("auto_approve_urls", body.auto_approve_urls),
            require_approval_urls=policies.normalize_urls(
                "require_approval_urls", body.require_approval_urls or []
            ),
            allowed_approvers=tuple(body.allowed_approvers),
            require_passkey=body.require_passkey,
            min_approvals=body.min_approvals,
        )
        return await policies.put(
            ctx.conn, policy, keep_require_approval_urls=body.require_approval_urls is None
        )

    run(action, Access.WRITE)
    click.echo(f"Policy set for {credential}")


@policy_group.command("clear")
@click.argument("credential")
def policy_clear(credential: str) -> None:
    """Remove the policy of CREDENTIAL (the team default applies again)."""

    async def action(ctx: CliContext) -> None:
        await policies.clear(ctx.conn, ctx.team_id, credential)

    run(action, Access.WRITE)
    click.echo(f"Policy cleared for {credential}")
