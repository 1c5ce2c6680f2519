"""``tap approvals list``, ``tap approve``, ``tap deny``: requests waiting for a human.

Decisions go through :func:`app.approvals.decisions.decide_as_operator`, the
same rules as the API, the dashboard and chat: a plain ``tap approve`` settles a
request whose policy lets anyone decide with one vote and no passkey; any other
is refused unless ``--break-glass --reason TEXT`` overrides it, and the
override is recorded as the decider (so the request's audit record names it).
"""

from __future__ import annotations

from typing import Final

import click

from app.approvals import decisions
from app.errors import EvidenceInvalid, OperatorNotEligible
from app.passkeys.audited import verify_approval
from app.passkeys.canonical import CanonicalRequest
from app.passkeys.relying_party import RelyingParty
from tools.cli.context import Access, CliContext
from tools.cli.errors import CliError, exit_on_error
from tools.cli.listing import list_command
from tools.cli.render import one_line, timestamp
from tools.cli.run import run, settings

PREVIEW_CHARS: Final = 60


@click.group("approvals")
def approvals_group() -> None:
    """Requests waiting for a human."""


list_command(
    approvals_group,
    help="List pending requests with a body preview, newest first.",
    fetch=lambda ctx: decisions.list_pending(ctx.conn, ctx.team_id),
    to_json=lambda p: {
        "txn_id": str(p.txn_id),
        "agent": p.agent_id,
        "credential": p.credential_name,
        "method": p.method,
        "target": p.target_url,
        "body_preview": p.body_preview,
        "approvals": p.approvals,
        "min_approvals": p.min_approvals,
        "allowed_approvers": list(p.allowed_approvers),
        "require_passkey": p.require_passkey,
        "created_at": p.created_at.isoformat(),
        "expires_at": p.expires_at.isoformat(),
    },
    columns=[
        ("TXN", lambda p: str(p.txn_id)),
        ("AGENT", lambda p: p.agent_id),
        ("CREDENTIAL", lambda p: p.credential_name),
        ("REQUEST", lambda p: f"{p.method} {p.target_url}"),
        ("BODY", lambda p: one_line(p.body_preview, PREVIEW_CHARS)),
        ("CREATED", lambda p: timestamp(p.created_at)),
        ("EXPIRES", lambda p: timestamp(p.expires_at)),
    ],
)


def _decide(txn: str, decision: decisions.Decision, break_glass: bool, reason: str | None) -> str:
    with exit_on_error():
        if break_glass and reason is None:
            raise CliError("--break-glass needs --reason TEXT (it is recorded)", exit_code=2)
        if reason is not None and not break_glass:
            raise CliError("--reason goes with --break-glass", exit_code=2)
        txn_id = decisions.parse_txn_id(txn)

    async def action(ctx: CliContext) -> decisions.VoteResult:
        try:
            return await decisions.decide_as_operator(
                ctx.conn,
                team_id=ctx.team_id,
                txn_id=txn_id,
                decision=decision,
                break_glass_reason=reason,
            )
        except OperatorNotEligible as exc:
            raise CliError(
                f"{exc.message}; to override, run `tap {decision} {txn} --break-glass "
                "--reason TEXT` (recorded in the audit)"
            ) from None

    return run(action, Access.WRITE).status


_BREAK_GLASS = click.option(
    "--break-glass",
    is_flag=True,
    help="Override the policy (named approvers, quorum, passkey); needs --reason.",
)
_REASON = click.option("--reason", help="Why the policy is overridden (recorded in the audit).")


@click.command("approve")
@click.argument("txn")
@_BREAK_GLASS
@_REASON
def approve(txn: str, break_glass: bool, reason: str | None) -> None:
    """Approve a pending request; a running proxy forwards it at once."""
    status = _decide(txn, "approve", break_glass, reason)
    click.echo(f"Approved {txn} ({status})" + (" by breaking glass" if break_glass else ""))


@click.command("deny")
@click.argument("txn")
@_BREAK_GLASS
@_REASON
def deny(txn: str, break_glass: bool, reason: str | None) -> None:
    """Deny a pending request; it is never forwarded."""
    _decide(txn, "deny", break_glass, reason)
    click.echo(f"Denied {txn}" + (" by breaking glass" if break_glass else ""))


@approvals_group.command("verify")
@click.argument("txn")
def verify(txn: str) -> None:
    """Check a passkey approval offline: signatures, request, origins and audit record."""
    with exit_on_error():
        txn_id = decisions.parse_txn_id(txn)
        rp = RelyingParty.from_config(settings().config)
        if rp is None:
            raise CliError(
                "passkeys are not configured: set WEBAUTHN_RP_ID, WEBAUTHN_RP_ORIGIN and "
                "TAP_APP_URL as the server has them",
                exit_code=2,
            )

    async def action(ctx: CliContext) -> list[CanonicalRequest]:
        try:
            return await verify_approval(
                ctx.conn, ctx.team_id, txn_id, rp_id=rp.rp_id, origins=rp.origins
            )
        except EvidenceInvalid as exc:
            raise CliError(
                f"FAIL: {exc.check}: expected {exc.expected}, found {exc.actual}"
            ) from None

    for signed in run(action, Access.READ):
        click.echo(
            f"OK: {signed.approver} approved {signed.method} {signed.target_url} "
            f"(body sha256 {signed.body_sha256})"
        )
