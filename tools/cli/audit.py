"""``tap audit verify``: check the audit hash chains and their signed checkpoints.

``--database`` (the default) checks every team's chain in Postgres;
``--from-file audit.jsonl`` checks the JSONL audit file. Checkpoints must be
signed by a trusted key: the current one (derived from the master key, so the
command reaches custody like every other) and any earlier one listed in
``TAP_AUDIT_TRUSTED_KEYS`` or given with ``--public-key``. With ``--from-file``
and ``--public-key`` the command needs neither the database nor the key, so a
copy of the file can be checked anywhere against the key ``GET
/audit/public-key`` published.

Exit 0 and one ``OK`` line per team only when everything holds; otherwise exit
1 with one ``FAIL`` line naming the first break: ``line N`` (1-based line of
the file) or ``record N`` (1-based position among the team's records).
"""

from __future__ import annotations

import base64
import binascii
import sys
from pathlib import Path

import click

from app.audit_verify import (
    ChainBroken,
    TrustedKeys,
    Verification,
    verify_database,
    verify_lines,
)
from tools.cli.context import Access, CliContext
from tools.cli.errors import EXIT_FAILURE, CliError, exit_on_error
from tools.cli.run import run, settings


@click.group("audit")
def audit_group() -> None:
    """Verify the tamper-evident audit log."""


def _public_key(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[bytes]:
    keys = []
    for value in values:
        try:
            key = base64.b64decode(value.strip(), validate=True)
        except (ValueError, binascii.Error):
            raise click.BadParameter("expected a base64 Ed25519 public key") from None
        if len(key) != 32:
            raise click.BadParameter("an Ed25519 public key is 32 bytes")
        keys.append(key)
    return keys


@audit_group.command("verify")
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Verify this JSONL audit file.",
)
@click.option("--database", is_flag=True, help="Verify every team's chain in Postgres (default).")
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    callback=_public_key,
    help="Trust checkpoints signed by this base64 key (repeatable); with --from-file, "
    "no database or key is needed.",
)
def verify(from_file: Path | None, database: bool, public_keys: list[bytes]) -> None:
    """Check the audit chain and every checkpoint; exit 1 naming the first break."""
    if from_file is not None and database:
        raise click.UsageError("give --from-file or --database, not both")
    with exit_on_error():
        extra = settings().config.audit_trusted_keys
    if from_file is not None:
        path = from_file
        if public_keys:
            with exit_on_error():
                result = _verify_file(path, TrustedKeys.of(*public_keys, *extra))
        else:

            async def from_key(ctx: CliContext) -> Verification | ChainBroken:
                return _verify_file(
                    path, TrustedKeys.of(ctx.keys.audit_signer().public_key, *extra)
                )

            result = run(from_key, Access.READ, team=False)
        _report(result, str(path), "line")
        return

    async def check(ctx: CliContext) -> Verification | ChainBroken:
        trusted = TrustedKeys.of(ctx.keys.audit_signer().public_key, *public_keys, *extra)
        try:
            return await verify_database(ctx.conn, trusted)
        except ChainBroken as broken:
            return broken

    _report(run(check, Access.READ, team=False), "the database", "record")


def _verify_file(path: Path, trusted: TrustedKeys) -> Verification | ChainBroken:
    try:
        with path.open(encoding="utf-8", errors="surrogateescape") as handle:
            return verify_lines((line.rstrip("\n") for line in handle), trusted)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {(exc.strerror or 'unreadable').lower()}") from exc
    except ChainBroken as broken:
        return broken


def _report(result: Verification | ChainBroken, source: str, unit: str) -> None:
    if isinstance(result, ChainBroken):
        team = f" (team {result.team_id})" if result.team_id else ""
        click.echo(f"FAIL: {source}: {unit} {result.index}: {result.kind}: {result.detail}{team}")
        sys.exit(EXIT_FAILURE)
    if not result.teams:
        click.echo(f"OK: {source}: no chained audit records yet")
    for team_id, summary in sorted(result.teams.items()):
        click.echo(
            f"OK: {source}: team {team_id}: {summary.records} records, "
            f"{summary.checkpoints} checkpoints, signed through record {summary.signed}"
        )
        if summary.signed < summary.records:
            click.echo(
                f"note: records {summary.signed + 1}..{summary.records} of team {team_id} "
                "are not covered by a checkpoint yet"
            )
    if result.unchained:
        click.echo(f"note: {result.unchained} records from before the chain are not verified")
