"""``tap``: the operator CLI for self-hosted TAP.

Management commands work directly on the database (see :mod:`tools.context`);
``tap status`` asks a running proxy; ``tap logs`` reads the JSONL audit file.
Each subcommand parses its input, calls the store, and renders the result.
Errors end as one line on stderr and a non-zero exit (``--verbose`` adds the
traceback). Secret values come from a hidden prompt, a file or stdin; ``--value``
exists for scripts but warns, because argv is visible to other processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar

import click
import httpx

import enclave
from app.approvals import decisions
from app.config import Config
from app.errors import ConfigError, TapError
from app.secret import Secret
from app.store import agents, credentials, policies, roles
from app.store.models import AUTH_TYPES, Agent, Credential, Policy, Role
from tools.context import CliContext, load_config, open_context
from tools.enclave_cli import enclave_group

T = TypeVar("T")

EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class _State:
    def __init__(self, encryption_key: str | None, verbose: bool) -> None:
        self.encryption_key = encryption_key
        self.verbose = verbose

    def config(self) -> Config:
        return load_config(os.environ, self.encryption_key)


def _run(action: Callable[[CliContext], Awaitable[T]]) -> T:
    """Run ``action`` against the database; turn domain errors into one line and an exit code."""
    state: _State = click.get_current_context().find_object(_State)  # type: ignore[assignment]
    try:
        config = state.config()

        async def go() -> T:
            async with open_context(config) as ctx:
                return await action(ctx)

        return asyncio.run(go())
    except ConfigError as exc:
        _fail(state, exc, EXIT_USAGE)
    except (TapError, enclave.CustodyError) as exc:
        _fail(state, exc, EXIT_FAILURE)
    except Exception as exc:  # the last resort: one line, never a traceback unless asked
        _fail(
            state,
            RuntimeError(f"unexpected {type(exc).__name__} (run with --verbose for details)"),
            EXIT_FAILURE,
        )


def _fail(state: _State, exc: BaseException, code: int) -> NoReturn:
    if state.verbose:
        traceback.print_exception(exc)
    click.echo(f"error: {exc}", err=True)
    sys.exit(code)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# -- the group ---------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--encryption-key",
    envvar="TAP_ENCRYPTION_KEY",
    show_envvar=True,
    help="64 hex characters. Prefer the environment variable or TAP_ENCRYPTION_KEY_FILE.",
)
@click.option("--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, encryption_key: str | None, verbose: bool) -> None:
    """Manage a self-hosted TAP: credentials, agents, roles, policies and approvals.

    Uses POSTGRES_DATABASE_URL, or the embedded database under TAP_DATA_DIR
    (default ./data) that `make run` starts.
    """
    ctx.obj = _State(encryption_key, verbose)


# -- credentials -------------------------------------------------------------------------


def _read_value(value: str | None, value_file: Path | None, interactive: bool) -> Secret | None:
    if value is not None:
        click.echo(
            "warning: --value puts the secret in your shell history and process list", err=True
        )
        return Secret(value)
    if value_file is not None:
        text = sys.stdin.read() if str(value_file) == "-" else value_file.read_text()
        return Secret(text.strip())
    if interactive:
        return Secret(click.prompt("Value (hidden)", hide_input=True))
    return None


@main.command("add")
@click.option("--name", help="Credential name (lowercase letters, digits, hyphens).")
@click.option("--description", help="Human-readable description.")
@click.option(
    "--auth", "auth_type", type=click.Choice(AUTH_TYPES), help="How the secret is injected."
)
@click.option("--api-base", help="Base URL; relative targets are resolved under it.")
@click.option(
    "--relative-target", is_flag=True, help="Agents send paths under --api-base, not URLs."
)
@click.option("--header-format", help='Authorization template, e.g. "Bearer {value}".')
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="Host the secret may be sent to (repeatable).",
)
@click.option("--value", help="The secret (visible in argv; prefer the prompt or --value-file).")
@click.option(
    "--value-file",
    type=click.Path(path_type=Path, allow_dash=True),
    help="Read the secret from a file, or - for stdin.",
)
@click.option(
    "--allow-unscannable-responses",
    is_flag=True,
    help="Pass on responses TAP cannot scan for the secret (binary downloads) instead of "
    "withholding them; each one is audited.",
)
def add(
    name: str | None,
    description: str | None,
    auth_type: str | None,
    api_base: str | None,
    relative_target: bool,
    header_format: str | None,
    allowed_hosts: tuple[str, ...],
    value: str | None,
    value_file: Path | None,
    allow_unscannable_responses: bool,
) -> None:
    """Add a credential. Prompts for anything missing when --name is omitted."""
    interactive = name is None
    if interactive:
        name = click.prompt("Name")
        description = (
            description if description is not None else click.prompt("Description", default="")
        )
        auth_type = auth_type or click.prompt(
            "Auth type", type=click.Choice(AUTH_TYPES), default="api-key"
        )
    assert name is not None
    secret = _read_value(
        value,
        value_file,
        interactive or (value is None and value_file is None and sys.stdin.isatty()),
    )

    async def action(ctx: CliContext) -> Credential:
        async with ctx.conn.transaction():
            return await credentials.create(
                ctx.conn,
                ctx.keys,
                team_id=ctx.team_id,
                name=name,
                description=description or "",
                auth_type=auth_type or "api-key",
                api_base=api_base,
                relative_target=relative_target,
                auth_header_format=header_format,
                allowed_hosts=allowed_hosts,
                value=secret,
                allow_unscannable_responses=allow_unscannable_responses,
            )

    cred = _run(action)
    click.echo(f"Added credential {cred.name}" + ("" if secret is not None else " (no value set)"))
    if not cred.allowed_hosts and not cred.relative_target:
        click.echo(
            "warning: no --allowed-host: agents may send this secret to any public host", err=True
        )
    if cred.allow_unscannable_responses:
        click.echo(
            "warning: responses TAP cannot scan for this secret will be passed on (audited)",
            err=True,
        )


def _credential_json(cred: Credential) -> dict[str, Any]:
    return {
        "name": cred.name,
        "description": cred.description,
        "auth": cred.auth_type,
        "api_base": cred.api_base,
        "relative_target": cred.relative_target,
        "auth_header_format": cred.auth_header_format,
        "allowed_hosts": list(cred.allowed_hosts),
        "value_hint": cred.value_hint,
    }


@main.group("credential")
def credential_group() -> None:
    """List and delete credentials."""


@credential_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def credential_list(as_json: bool) -> None:
    async def action(ctx: CliContext) -> list[Credential]:
        return await credentials.list_all(ctx.conn, ctx.team_id)

    creds = _run(action)
    if as_json:
        _emit_json([_credential_json(c) for c in creds])
        return
    _table(
        [
            [
                c.name,
                c.auth_type,
                ",".join(c.allowed_hosts) or "-",
                c.value_hint or "(unset)",
                c.description,
            ]
            for c in creds
        ],
        ["NAME", "AUTH", "ALLOWED HOSTS", "VALUE", "DESCRIPTION"],
    )


@credential_group.command("delete")
@click.argument("name")
def credential_delete(name: str) -> None:
    async def action(ctx: CliContext) -> None:
        await credentials.delete(ctx.conn, ctx.team_id, name)

    _run(action)
    click.echo(f"Deleted credential {name}")


# -- agents ------------------------------------------------------------------------------


def _agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "name": agent.id,
        "description": agent.description,
        "enabled": agent.enabled,
        "rate_limit_per_hour": agent.rate_limit_per_hour,
        "roles": list(agent.roles),
        "credentials": list(agent.direct_credentials),
        "effective_credentials": sorted(agent.effective_credentials),
    }


@main.group("agent")
def agent_group() -> None:
    """Create and manage agents (each has its own API key)."""


@agent_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def agent_list(as_json: bool) -> None:
    async def action(ctx: CliContext) -> list[Agent]:
        return await agents.list_all(ctx.conn, ctx.team_id)

    items = _run(action)
    if as_json:
        _emit_json([_agent_json(a) for a in items])
        return
    _table(
        [
            [
                a.id,
                "enabled" if a.enabled else "disabled",
                str(a.rate_limit_per_hour or "-"),
                ",".join(a.roles) or "-",
                ",".join(sorted(a.effective_credentials)) or "-",
            ]
            for a in items
        ],
        ["NAME", "STATUS", "RATE/H", "ROLES", "CREDENTIALS"],
    )


@agent_group.command("create")
@click.option("--name", required=True)
@click.option("--description", default="")
@click.option("--roles", help="Comma-separated role names.")
@click.option("--credentials", "creds", help="Comma-separated credential names.")
@click.option("--rate-limit", type=click.IntRange(min=1), help="Requests per rolling hour.")
def agent_create(
    name: str, description: str, roles: str | None, creds: str | None, rate_limit: int | None
) -> None:
    """Create an agent and print its API key once."""

    async def action(ctx: CliContext) -> tuple[Agent, str]:
        async with ctx.conn.transaction():
            return await agents.create(
                ctx.conn,
                ctx.keys,
                team_id=ctx.team_id,
                agent_id=name,
                description=description,
                roles=_split(roles),
                credentials=_split(creds),
                rate_limit_per_hour=rate_limit,
            )

    agent, api_key = _run(action)
    click.echo(f"Created agent {agent.id}. Its key is shown once; store it now:", err=True)
    click.echo(f"TAP_API_KEY={api_key}")


@agent_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def agent_show(name: str, as_json: bool) -> None:
    """Show an agent and its effective credentials."""

    async def action(ctx: CliContext) -> Agent:
        return await agents.get(ctx.conn, ctx.team_id, name)

    agent = _run(action)
    if as_json:
        _emit_json(_agent_json(agent))
        return
    data = _agent_json(agent)
    for key in ("name", "description", "enabled", "rate_limit_per_hour"):
        click.echo(f"{key}: {data[key]}")
    click.echo(f"roles: {', '.join(agent.roles) or '-'}")
    click.echo(f"direct credentials: {', '.join(agent.direct_credentials) or '-'}")
    click.echo(f"effective credentials: {', '.join(sorted(agent.effective_credentials)) or '-'}")


def _agent_action(
    verb: str, func: Callable[[CliContext, str], Awaitable[Any]]
) -> Callable[[str], None]:
    def command(name: str) -> None:
        async def action(ctx: CliContext) -> None:
            await func(ctx, name)

        _run(action)
        click.echo(f"{verb} agent {name}")

    return command


agent_group.command("enable", help="Re-enable a disabled agent.")(
    click.argument("name")(
        _agent_action("Enabled", lambda c, n: agents.set_enabled(c.conn, c.team_id, n, True))
    )
)
agent_group.command("disable", help="Disable an agent (its requests are refused).")(
    click.argument("name")(
        _agent_action("Disabled", lambda c, n: agents.set_enabled(c.conn, c.team_id, n, False))
    )
)
agent_group.command("delete", help="Delete an agent.")(
    click.argument("name")(
        _agent_action("Deleted", lambda c, n: agents.delete(c.conn, c.team_id, n))
    )
)


@agent_group.command("rotate-key")
@click.argument("name")
def agent_rotate_key(name: str) -> None:
    """Give an agent a new key; the old one stops working."""

    async def action(ctx: CliContext) -> str:
        return await agents.rotate_key(ctx.conn, ctx.keys, ctx.team_id, name)

    api_key = _run(action)
    click.echo(f"Rotated the key of {name}. The new key is shown once:", err=True)
    click.echo(f"TAP_API_KEY={api_key}")


# -- roles -------------------------------------------------------------------------------


@main.group("role")
def role_group() -> None:
    """Bundle credentials into roles that agents are given."""


@role_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def role_list(as_json: bool) -> None:
    async def action(ctx: CliContext) -> list[Role]:
        return await roles.list_all(ctx.conn, ctx.team_id)

    items = _run(action)
    if as_json:
        _emit_json(
            [
                {
                    "name": r.name,
                    "description": r.description,
                    "rate_limit_per_hour": r.rate_limit_per_hour,
                    "credentials": list(r.credentials),
                }
                for r in items
            ]
        )
        return
    _table(
        [
            [
                r.name,
                ",".join(r.credentials) or "-",
                str(r.rate_limit_per_hour or "-"),
                r.description,
            ]
            for r in items
        ],
        ["NAME", "CREDENTIALS", "RATE/H", "DESCRIPTION"],
    )


@role_group.command("create")
@click.option("--name", required=True)
@click.option("--description", default="")
@click.option("--credentials", "creds", help="Comma-separated credential names.")
@click.option("--rate-limit", type=click.IntRange(min=1))
def role_create(name: str, description: str, creds: str | None, rate_limit: int | None) -> None:
    async def action(ctx: CliContext) -> Role:
        async with ctx.conn.transaction():
            return await roles.create(
                ctx.conn,
                team_id=ctx.team_id,
                name=name,
                description=description,
                credentials=_split(creds),
                rate_limit_per_hour=rate_limit,
            )

    role = _run(action)
    click.echo(f"Created role {role.name}")


@role_group.command("add-credential")
@click.argument("role")
@click.argument("credential")
def role_add_credential(role: str, credential: str) -> None:
    async def action(ctx: CliContext) -> None:
        await roles.add_credential(ctx.conn, ctx.team_id, role, credential)

    _run(action)
    click.echo(f"Role {role} now grants {credential}")


@role_group.command("remove-credential")
@click.argument("role")
@click.argument("credential")
def role_remove_credential(role: str, credential: str) -> None:
    async def action(ctx: CliContext) -> None:
        await roles.remove_credential(ctx.conn, ctx.team_id, role, credential)

    _run(action)
    click.echo(f"Role {role} no longer grants {credential}")


@role_group.command("delete")
@click.argument("name")
def role_delete(name: str) -> None:
    """Delete a role (agents lose what it granted)."""

    async def action(ctx: CliContext) -> None:
        await roles.delete(ctx.conn, ctx.team_id, name)

    _run(action)
    click.echo(f"Deleted role {name}")


# -- policies ----------------------------------------------------------------------------


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


@main.group("policy")
def policy_group() -> None:
    """Decide which requests run at once and which wait for a human."""


@policy_group.command("show")
@click.argument("credential")
@click.option("--json", "as_json", is_flag=True)
def policy_show(credential: str, as_json: bool) -> None:
    async def action(ctx: CliContext) -> Policy | None:
        await credentials.get(ctx.conn, ctx.team_id, credential)
        return await policies.get(ctx.conn, ctx.team_id, credential)

    policy = _run(action)
    if policy is None:
        if as_json:
            _emit_json(None)
        else:
            click.echo(
                f"No policy for {credential}: the team default applies (gated: reads run, writes wait)."
            )
        return
    data = _policy_json(policy)
    if as_json:
        _emit_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key}: {', '.join(value) if isinstance(value, list) else value}")


@policy_group.command("set")
@click.argument("credential")
@click.option("--auto-approve-methods", help="Comma-separated, e.g. GET,HEAD.")
@click.option("--require-approval-methods", help="Comma-separated, e.g. POST,DELETE.")
@click.option("--auto-approve-urls", help="Comma-separated path or host/path patterns.")
@click.option("--require-approval-urls", help="Comma-separated; kept as is when omitted.")
@click.option("--min-approvals", type=click.IntRange(min=1), default=1, show_default=True)
def policy_set(
    credential: str,
    auto_approve_methods: str | None,
    require_approval_methods: str | None,
    auto_approve_urls: str | None,
    require_approval_urls: str | None,
    min_approvals: int,
) -> None:
    """Replace the policy of CREDENTIAL."""

    async def action(ctx: CliContext) -> Policy:
        policy = Policy(
            team_id=ctx.team_id,
            credential_name=credential,
            auto_approve_methods=policies.normalize_methods(
                "auto_approve_methods", _split(auto_approve_methods)
            ),
            require_approval_methods=policies.normalize_methods(
                "require_approval_methods", _split(require_approval_methods)
            ),
            auto_approve_urls=policies.normalize_urls(
                "auto_approve_urls", _split(auto_approve_urls)
            ),
            require_approval_urls=policies.normalize_urls(
                "require_approval_urls", _split(require_approval_urls)
            ),
            min_approvals=min_approvals,
        )
        return await policies.put(
            ctx.conn, policy, keep_require_approval_urls=require_approval_urls is None
        )

    _run(action)
    click.echo(f"Policy set for {credential}")


@policy_group.command("clear")
@click.argument("credential")
def policy_clear(credential: str) -> None:
    """Remove the policy of CREDENTIAL (the team default applies again)."""

    async def action(ctx: CliContext) -> None:
        await policies.clear(ctx.conn, ctx.team_id, credential)

    _run(action)
    click.echo(f"Policy cleared for {credential}")


# -- approvals ---------------------------------------------------------------------------


@main.group("approvals")
def approvals_group() -> None:
    """Requests waiting for a human."""


@approvals_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def approvals_list(as_json: bool) -> None:
    async def action(ctx: CliContext) -> list[decisions.PendingApproval]:
        return await decisions.list_pending(ctx.conn, ctx.team_id)

    items = _run(action)
    if as_json:
        _emit_json(
            [
                {
                    "txn_id": str(p.txn_id),
                    "agent": p.agent_id,
                    "credential": p.credential_name,
                    "method": p.method,
                    "target": p.target_url,
                    "body_preview": p.body_preview,
                    "approvals": p.approvals,
                    "min_approvals": p.min_approvals,
                    "expires_at": p.expires_at.isoformat(),
                }
                for p in items
            ]
        )
        return
    _table(
        [
            [
                str(p.txn_id),
                p.agent_id,
                p.credential_name,
                p.method,
                p.target_url,
                p.expires_at.strftime("%H:%M:%S"),
            ]
            for p in items
        ],
        ["TXN", "AGENT", "CREDENTIAL", "METHOD", "TARGET", "EXPIRES"],
    )


def _decide(txn: str, decision: decisions.Decision) -> decisions.VoteResult:
    async def action(ctx: CliContext) -> decisions.VoteResult:
        async with ctx.conn.transaction():
            return await decisions.vote(
                ctx.conn,
                team_id=ctx.team_id,
                txn_id=decisions.parse_txn_id(txn),
                voter="operator",
                decision=decision,
                via="cli",
            )

    return _run(action)


@main.command("approve")
@click.argument("txn")
def approve(txn: str) -> None:
    """Approve a pending request; a running proxy forwards it at once."""
    result = _decide(txn, "approve")
    click.echo(f"Approved {txn} ({result.status})")


@main.command("deny")
@click.argument("txn")
def deny(txn: str) -> None:
    """Deny a pending request; it is never forwarded."""
    _decide(txn, "deny")
    click.echo(f"Denied {txn}")


# -- status and logs ---------------------------------------------------------------------


@main.command("status")
@click.option("--proxy-url", default="http://localhost:3100", show_default=True)
def status(proxy_url: str) -> None:
    """Check a running proxy's health."""
    try:
        response = httpx.get(proxy_url.rstrip("/") + "/health", timeout=5)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        click.echo(f"error: cannot reach {proxy_url}: {type(exc).__name__}", err=True)
        sys.exit(EXIT_FAILURE)
    build = body.get("build", {}) if isinstance(body, dict) else {}
    click.echo(
        f"{proxy_url}: {body.get('status', 'unknown')} (version {build.get('version')}, sha {build.get('sha')})"
    )
    if response.status_code != 200:
        sys.exit(EXIT_FAILURE)


@main.command("logs")
@click.option(
    "-l", "--log-file", type=click.Path(path_type=Path), help="Audit log (default: TAP_AUDIT_LOG)."
)
@click.option("-t", "--tail", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def logs(log_file: Path | None, tail: int, as_json: bool) -> None:
    """Show the last audit records."""
    path = log_file
    if path is None:
        try:
            path = Config.from_env(os.environ).audit_log
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
    try:
        lines = path.read_text().splitlines()[-tail:]
    except OSError as exc:
        click.echo(f"error: cannot read {path}: {exc.strerror}", err=True)
        sys.exit(EXIT_FAILURE)
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    if as_json:
        _emit_json(records)
        return
    for r in records:
        click.echo(
            f"{r.get('timestamp', '?')}  {r.get('agent_id', '?')}  {r.get('method', '?')} {r.get('target_url', '?')}"
            f"  creds={','.join(r.get('credential_names') or []) or '-'}  outcome={r.get('outcome', '?')}"
            f"  upstream={r.get('upstream_status')}  approval={r.get('approval_status') or '-'}"
        )


main.add_command(enclave_group)
