"""``tap add`` and ``tap credential ...``: credentials, validated exactly as the admin API does.

Every input passes the admin API's own request models
(:class:`~app.admin.schemas.CredentialCreateBody`, ``CredentialUpdateBody``,
``CredentialSecretBody``) and the store's normalisers before anything is
asked for or written, so the CLI cannot create what the API would refuse: no
credential without allowed hosts (unless it is relative to its api_base), and
none without a value.

NOTE: a value never comes from argv (other processes can read it); see
:mod:`tools.cli.value_input`. ``tap add --auth KIND`` asks for exactly the
fields of that kind (:mod:`app.credential_kinds`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import click
from pydantic import ValidationError

from app.admin.schemas import CredentialCreateBody, CredentialSecretBody, CredentialUpdateBody
from app.credential_kinds import KIND_NAMES, KINDS, kind_named
from app.secret import Secret
from app.store import credentials
from app.store.models import Credential
from tools.cli.context import Access, CliContext
from tools.cli.errors import CliError, describe_validation, exit_on_error
from tools.cli.listing import list_command
from tools.cli.render import split_list
from tools.cli.run import run
from tools.cli.value_input import prompt, read_fields, read_value

_VALUE_FILE = click.option(
    "--value-file",
    type=click.Path(path_type=Path, allow_dash=True, dir_okay=False),
    help="Read the secret from FILE, or - for stdin (default: a hidden prompt). Structured "
    "kinds read a JSON object of their secret fields.",
)

# One flag per public field of any structured kind (--consumer-key, --region, ...).
_PUBLIC_FIELDS: Final = tuple(
    dict.fromkeys(name for kind in KINDS.values() for name in kind.public_fields())
)


def _field_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    for name in reversed(_PUBLIC_FIELDS):
        owners = [k.name for k in KINDS.values() if name in k.public_fields()]
        spec = next(k.field(name) for k in KINDS.values() if k.field(name) is not None)
        assert spec is not None
        command = click.option(
            "--" + name.replace("_", "-"),
            name,
            help=f"{spec.help} (--auth {'|'.join(owners)})",
        )(command)
    return command


def parse_binding(text: str) -> dict[str, str]:
    """``"X-Api-Key: {value.key}"`` -> ``{"header": "X-Api-Key", "format": "{value.key}"}``."""
    header, colon, template = text.partition(":")
    if not colon or not header.strip() or not template.strip():
        raise CliError(
            f"--binding {text!r}: expected 'Header-Name: format', e.g. 'X-Api-Key: {{value}}'"
        )
    return {"header": header.strip(), "format": template.strip()}


def checked_value(secret: Secret) -> Secret:
    """``secret``, once the API's own value rules accept it. Raises CliError naming the rule."""
    try:
        CredentialSecretBody(value=secret.reveal())
    except ValidationError as exc:
        if "string_too_short" in {p["type"] for p in exc.errors()}:
            raise CliError("value: it is empty") from None
        raise CliError(describe_validation(exc)) from None
    return secret


def _check_create(fields: dict[str, Any]) -> CredentialCreateBody:
    """The API's validation of a new credential (value aside). Raises ValidationError, InvalidInput."""
    body = CredentialCreateBody.model_validate(fields)
    problem = body.destination_problem()
    if problem is not None:
        raise CliError(problem)
    credentials.normalize_name(body.name)
    credentials.normalize_api_base(body.api_base)
    credentials.normalize_allowed_hosts(body.allowed_hosts)
    return body


def _credential_json(cred: Credential) -> dict[str, Any]:
    return {
        "name": cred.name,
        "description": cred.description,
        "auth_type": cred.auth_type,
        "api_base": cred.api_base,
        "relative_target": cred.relative_target,
        "auth_header_format": cred.auth_header_format,
        "allowed_hosts": list(cred.allowed_hosts),
        "has_value": cred.sealed_value is not None,
        "allow_unscannable_responses": cred.allow_unscannable_responses,
        "value_hint": cred.value_hint,
    }


@click.command("add")
@click.option("--name", help="Credential name (lowercase letters, digits, hyphens).")
@click.option("--description", help="Human-readable description.")
@click.option(
    "--auth",
    "auth_type",
    type=click.Choice(KIND_NAMES),
    help="The credential's kind: how TAP authenticates to the upstream.",
)
@click.option(
    "--api-base", help="Base URL; relative targets are resolved under it (sidecar: its URL)."
)
@click.option(
    "--relative-target", is_flag=True, help="Agents send paths under --api-base, not URLs."
)
@click.option("--header-format", help='Authorization template, e.g. "Bearer {value}".')
@click.option(
    "--binding",
    "bindings",
    multiple=True,
    help="Custom header binding 'Header-Name: format', e.g. 'X-Api-Key: {value.key}' (repeatable).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="Host the secret may be sent to (repeatable; required unless --relative-target).",
)
@_field_flags
@_VALUE_FILE
@click.option(
    "--allow-unscannable-responses",
    is_flag=True,
    help="Pass on responses TAP cannot scan for the secret (binary downloads); each is audited.",
)
def add(
    name: str | None,
    description: str | None,
    auth_type: str | None,
    api_base: str | None,
    relative_target: bool,
    header_format: str | None,
    bindings: tuple[str, ...],
    allowed_hosts: tuple[str, ...],
    value_file: Path | None,
    allow_unscannable_responses: bool,
    **field_flags: str | None,
) -> None:
    """Add a credential; prompts for every required field when --name is omitted.

    Structured kinds (oauth1, aws-sigv4, oauth2) take their public fields as
    flags and their secret fields from --value-file (a JSON object) or hidden
    prompts, never from the command line.
    """
    with exit_on_error():
        hosts = list(allowed_hosts)
        interactive = name is None
        if name is None:
            name = prompt("Name")
            if description is None:
                description = prompt("Description", default="")
            if auth_type is None:
                auth_type = prompt("Auth type", type=click.Choice(KIND_NAMES), default="api-key")
            if not hosts and not relative_target:
                hosts = split_list(prompt("Allowed hosts (comma-separated)"))
        kind = kind_named(auth_type or "api-key")
        given = {k: v for k, v in field_flags.items() if v is not None}
        stray = sorted(set(given) - set(kind.public_fields()))
        if stray:
            flags = ", ".join("--" + f.replace("_", "-") for f in stray)
            raise CliError(f"{flags}: not a field of a {kind.name} credential", exit_code=2)
        body = _check_create(
            {
                "name": name,
                "description": description or "",
                "auth_type": kind.name,
                "api_base": api_base,
                "relative_target": relative_target,
                "auth_header_format": header_format,
                "auth_bindings": [parse_binding(b) for b in bindings],
                "allowed_hosts": hosts,
                "allow_unscannable_responses": allow_unscannable_responses,
            }
        )
        if kind.connector == "sidecar" and body.api_base is None:
            raise CliError("a sidecar credential needs --api-base (the sidecar's URL)", exit_code=2)
        if kind.structured:
            secret = read_fields(kind, given, value_file, ask=interactive)
        else:
            secret = checked_value(read_value(value_file, ask=interactive))

    async def action(ctx: CliContext) -> Credential:
        return await credentials.create(
            ctx.conn,
            ctx.keys,
            team_id=ctx.team_id,
            name=body.name,
            description=body.description,
            auth_type=body.auth_type,
            api_base=body.api_base,
            relative_target=body.relative_target,
            auth_header_format=body.auth_header_format,
            auth_bindings=[b.model_dump() for b in body.auth_bindings],
            allowed_hosts=body.allowed_hosts,
            value=secret,
            allow_unscannable_responses=body.allow_unscannable_responses,
        )

    cred = run(action, Access.WRITE)
    click.echo(f"Added credential {cred.name} ({cred.auth_type}, value {cred.value_hint})")
    if cred.allow_unscannable_responses:
        click.echo(
            "warning: responses TAP cannot scan for this secret will be passed on (audited)",
            err=True,
        )


@click.group("credential")
def credential_group() -> None:
    """List, change and delete credentials."""


list_command(
    credential_group,
    help="List the team's credentials (never their values).",
    fetch=lambda ctx: credentials.list_all(ctx.conn, ctx.team_id),
    to_json=_credential_json,
    columns=[
        ("NAME", lambda c: c.name),
        ("AUTH", lambda c: c.auth_type),
        ("ALLOWED HOSTS", lambda c: ",".join(c.allowed_hosts) or "-"),
        ("VALUE", lambda c: c.value_hint or "(unset)"),
        ("DESCRIPTION", lambda c: c.description),
    ],
)


@credential_group.command("update")
@click.argument("name")
@click.option("--description", help="New description.")
@click.option("--api-base", help="New base URL.")
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="Replace the allowed hosts (repeatable).",
)
@click.option("--header-format", help='New Authorization template, e.g. "Bearer {value}".')
def credential_update(
    name: str,
    description: str | None,
    api_base: str | None,
    allowed_hosts: tuple[str, ...],
    header_format: str | None,
) -> None:
    """Change a credential's configuration; options not given stay as they are."""
    with exit_on_error():
        fields: dict[str, Any] = {
            key: value
            for key, value in (
                ("description", description),
                ("api_base", api_base),
                ("auth_header_format", header_format),
                ("allowed_hosts", list(allowed_hosts) or None),
            )
            if value is not None
        }
        if not fields:
            raise CliError(
                "nothing to change: give --description, --api-base, --allowed-host or "
                "--header-format",
                exit_code=2,
            )
        body = CredentialUpdateBody.model_validate(fields)

    async def action(ctx: CliContext) -> Credential:
        return await credentials.update(
            ctx.conn,
            team_id=ctx.team_id,
            name=name,
            description=body.description,
            api_base=body.api_base,
            auth_header_format=body.auth_header_format,
            allowed_hosts=body.allowed_hosts,
        )

    cred = run(action, Access.WRITE)
    click.echo(f"Updated credential {cred.name}")


@credential_group.command("set-value")
@click.argument("name")
@_VALUE_FILE
def credential_set_value(name: str, value_file: Path | None) -> None:
    """Replace a credential's secret value (hidden prompt or --value-file)."""
    with exit_on_error():
        secret = checked_value(read_value(value_file))

    async def action(ctx: CliContext) -> Credential:
        await credentials.set_value(ctx.conn, ctx.keys, ctx.team_id, name, secret)
        return await credentials.get(ctx.conn, ctx.team_id, name)

    cred = run(action, Access.WRITE)
    click.echo(f"Set the value of {cred.name} (now {cred.value_hint})")


@credential_group.command("delete")
@click.argument("name")
def credential_delete(name: str) -> None:
    """Delete a credential with its policy and grants."""

    async def action(ctx: CliContext) -> None:
        await credentials.delete(ctx.conn, ctx.team_id, name)

    run(action, Access.WRITE)
    click.echo(f"Deleted credential {name}")
