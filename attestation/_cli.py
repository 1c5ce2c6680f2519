"""``tap-attest``: check what a TAP instance runs, from the command line.

One click group, one small function per subcommand: parse, call the library,
render.  Each check prints one ``OK`` or ``FAIL`` line on stdout (or one JSON
document with ``--json``); diagnostics go to stderr.  Exit status: 0 when every
check held, 1 when a check failed, 2 when something could not be checked
(unreachable endpoint, unreadable input, bad usage).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from attestation._checks import CheckResult, CheckRunner
from attestation._endpoint import Origin
from attestation._hostdata import PolicyFormat, hostdata_of_file, hostdata_of_rego, policy_text
from attestation._http import open_client
from attestation._instance import verify_instance
from attestation._json import parse_object
from attestation._maa_token import normalize_hostdata, verify_signed_token, verify_token
from attestation._measurement_log import DEPLOYED_AT_FORMAT, LogRow, append_row, verify_log
from attestation._release_policy import ReleasePolicy, evaluate_release_policy
from attestation._signing_keys import SigningKeys, check_fetched_keys, check_key_file
from attestation._types import JSONObject
from attestation.errors import AttestationError, InputError, VerificationError

__all__ = ["cli", "main"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_JSON_KEY = "tap_attest.json"
_VERBOSE_KEY = "tap_attest.verbose"
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

# -- rendering -----------------------------------------------------------------


def _json_mode() -> bool:
    return bool(click.get_current_context().meta.get(_JSON_KEY, False))


def _check_json(result: CheckResult) -> dict[str, object]:
    return {
        "name": result.name,
        "ok": result.ok,
        "expected": result.expected,
        "actual": result.actual,
    }


def _echo_checks(results: Sequence[CheckResult]) -> None:
    for result in results:
        if result.ok:
            click.echo(f"OK    {result.name}: {result.actual}")
        else:
            click.echo(f"FAIL  {result.name}: expected {result.expected}, got {result.actual}")


def _succeed(results: Sequence[CheckResult], verdict: str, **extra: object) -> None:
    if _json_mode():
        document = {"ok": True, "checks": [_check_json(r) for r in results], **extra}
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return
    _echo_checks(results)
    click.echo(verdict)


def _render_error(ctx: click.Context, exc: AttestationError) -> None:
    if ctx.meta.get(_JSON_KEY, False):
        error: dict[str, object] = {"code": exc.code, "message": exc.message}
        if isinstance(exc, VerificationError):
            error.update(check=exc.check, expected=exc.expected, actual=exc.actual)
        document = {"ok": False, "checks": [_check_json(r) for r in exc.results], "error": error}
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return
    _echo_checks(exc.results)
    if isinstance(exc, VerificationError):
        click.echo(f"FAIL: {exc.message}", err=True)
    else:
        click.echo(f"ERROR: could not check: {exc.message}", err=True)


class _Group(click.Group):
    """The top-level group: the one place domain errors become exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AttestationError as exc:
            if ctx.meta.get(_VERBOSE_KEY, False):
                traceback.print_exc(file=sys.stderr)
            _render_error(ctx, exc)
            ctx.exit(exc.status)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            # NOTE: a bug must never look like "verified" (0) or "check failed" (1).
            if ctx.meta.get(_VERBOSE_KEY, False):
                traceback.print_exc(file=sys.stderr)
            click.echo(
                f"ERROR: internal error ({type(exc).__name__}); nothing was verified", err=True
            )
            ctx.exit(2)


# -- option callbacks ----------------------------------------------------------


def _json_option(func: F) -> F:
    def remember(ctx: click.Context, _: click.Parameter, value: bool) -> None:
        ctx.meta[_JSON_KEY] = value

    return click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=remember,
        help="Print one JSON document instead of text.",
    )(func)


def _origin(_: click.Context, __: click.Parameter, value: str | None) -> Origin | None:
    if value is None:
        return None
    try:
        return Origin.parse(value)
    except InputError as exc:
        raise click.BadParameter(exc.message) from exc


def _hostdata_values(
    _: click.Context, __: click.Parameter, value: tuple[str, ...]
) -> frozenset[str]:
    try:
        return frozenset(normalize_hostdata(item) for item in value)
    except InputError as exc:
        raise click.BadParameter(exc.message) from exc


def _deployed_at(_: click.Context, __: click.Parameter, value: str | None) -> str:
    if value is None:
        return datetime.now(tz=UTC).strftime(DEPLOYED_AT_FORMAT)
    return value


# -- shared steps --------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _read_token(argument: str) -> str:
    """A token given inline, on stdin (``-``), or in a file; a file may also
    hold the ``{"token": ...}`` answer of an instance's /attestation.

    Raises:
        InputError: the file cannot be read or holds no token.
    """
    if _COMPACT_JWS.fullmatch(argument) is not None:
        return argument
    try:
        text = sys.stdin.read() if argument == "-" else Path(argument).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read token from {argument!r}: {exc}") from exc
    # A token file may start with "#" comment lines, as the test vectors do.
    lines = [line.strip() for line in text.splitlines() if not line.startswith("#")]
    text = "\n".join(line for line in lines if line)
    if text.startswith("{"):
        try:
            token = parse_object(text).get("token")
        except ValueError as exc:
            raise InputError(f"token file {argument!r}: {exc}") from exc
        if not isinstance(token, str):
            raise InputError(f"token file {argument!r} has no 'token' string")
        return token
    return text


def _keys(checks: CheckRunner, endpoint: Origin, jwks: Path | None) -> SigningKeys:
    if jwks is not None:
        return checks.run(lambda: check_key_file(jwks, endpoint))
    with open_client() as client:
        return checks.run(lambda: check_fetched_keys(client, endpoint))


def _read_json_file(path: Path, what: str) -> JSONObject:
    try:
        return parse_object(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InputError(f"{what} {path}: {exc}") from exc


# -- commands ------------------------------------------------------------------


@click.group(cls=_Group)
@click.option("--verbose", is_flag=True, help="Log every step to stderr; show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Verify, without trusting the operator, what a managed TAP instance runs.

    \b
    How to verify a managed instance, step by step:
      1. Get the measurement log the operator publishes (a .jsonl file) and
         check it:           tap-attest log verify production.jsonl
         Keep a copy; next time add --since OLD_COPY to prove that no row
         was edited or removed since.
      2. Optionally recompute a row's hostdata from the policy it publishes:
                             tap-attest hostdata policy.rego
      3. Ask the instance for a fresh attestation and match it to the log:
                             tap-attest verify-instance https://tap.example.com \\
                                 --log production.jsonl
         This reads /health (build sha), finds the log rows for that sha,
         fetches the signing keys of the attestation endpoint the row names,
         asks /attestation for a token bound to a random nonce, verifies the
         token (signature, issuer, validity, SEV-SNP claims, nonce) and
         checks that the measured hostdata is the row's.

    \b
    Exit status: 0 every check held, 1 a check failed, 2 could not check.
    """
    ctx.meta[_VERBOSE_KEY] = verbose
    if verbose:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s: %(message)s")


@cli.command("verify-token")
@click.argument("token_or_file")
@click.option(
    "--endpoint", required=True, callback=_origin, help="The attestation endpoint (https origin)."
)
@click.option(
    "--expect-hostdata",
    "hostdata",
    multiple=True,
    required=True,
    callback=_hostdata_values,
    help="Acceptable hostdata (64 hex); repeat to allow several.",
)
@click.option("--nonce", default=None, help="The nonce sent with the attestation request.")
@click.option(
    "--jwks", type=_EXISTING_FILE, default=None, help="Read the endpoint's key set from a file."
)
@_json_option
def verify_token_command(
    token_or_file: str,
    endpoint: Origin,
    hostdata: frozenset[str],
    nonce: str | None,
    jwks: Path | None,
) -> None:
    """Verify an attestation token (inline, a file, or - for stdin)."""
    token = _read_token(token_or_file)
    checks = CheckRunner()
    keys = _keys(checks, endpoint, jwks)
    verified = verify_token(
        token, keys=keys, allowed_hostdata=hostdata, nonce=nonce, now=_now(), checks=checks
    )
    _succeed(
        verified.report.results,
        f"VERIFIED: hostdata {verified.hostdata}",
        hostdata=verified.hostdata,
    )


@cli.command("hostdata")
@click.argument("policy_file", type=_EXISTING_FILE)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in PolicyFormat]),
    default=PolicyFormat.AUTO.value,
    show_default=True,
    help="How the policy is written.",
)
@_json_option
def hostdata_command(policy_file: Path, fmt: str) -> None:
    """Print the SEV-SNP hostdata of a CCE policy (Rego, base64 or ARM template)."""
    result = hostdata_of_file(policy_file, PolicyFormat(fmt))
    if _json_mode():
        click.echo(
            json.dumps({"format": result.format.value, "hostdata": result.hex}, sort_keys=True)
        )
    else:
        click.echo(result.hex)


@cli.group("policy")
def policy_group() -> None:
    """Key Vault key release policies."""


@policy_group.command("check")
@click.argument("policy_file", type=_EXISTING_FILE)
@click.option(
    "--token", "token_file", default=None, help="A token to verify, then evaluate (file or -)."
)
@click.option(
    "--claims",
    "claims_file",
    type=_EXISTING_FILE,
    default=None,
    help="Claims (JSON) to evaluate as given.",
)
@click.option(
    "--endpoint",
    default=None,
    callback=_origin,
    help="The token's attestation endpoint; default: the policy's only authority.",
)
@click.option(
    "--jwks", type=_EXISTING_FILE, default=None, help="Read the endpoint's key set from a file."
)
@_json_option
def policy_check_command(
    policy_file: Path,
    token_file: str | None,
    claims_file: Path | None,
    endpoint: Origin | None,
    jwks: Path | None,
) -> None:
    """Tell whether a token's measurement would be released the key."""
    if (token_file is None) == (claims_file is None):
        raise click.UsageError("give exactly one of --token or --claims")
    policy = ReleasePolicy.from_json(_read_json_file(policy_file, "release policy"))
    checks = CheckRunner()
    if token_file is not None:
        origins = policy.origins
        if endpoint is None and len(origins) != 1:
            raise click.UsageError("the policy names several authorities; give --endpoint")
        origin = endpoint if endpoint is not None else origins[0]
        token = _read_token(token_file)
        keys = _keys(checks, origin, jwks)
        claims = verify_signed_token(token, keys=keys, now=_now(), checks=checks).claims
    else:
        assert claims_file is not None
        click.echo("NOTE: --claims are evaluated as given; nothing proves them.", err=True)
        claims = _read_json_file(claims_file, "claims")
    try:
        decision = evaluate_release_policy(policy, claims)
    except VerificationError as exc:
        exc.results = (*checks.results, *exc.results)
        raise
    results = (*checks.results, *decision.trace)
    _succeed(results, f"RELEASED: clause {decision.matched} holds", matched=decision.matched)


@cli.group("log")
def log_group() -> None:
    """The append-only measurement log."""


@log_group.command("verify")
@click.argument("log_file", type=_EXISTING_FILE)
@click.option(
    "--since", type=_EXISTING_FILE, default=None, help="An earlier copy the log must extend."
)
@_json_option
def log_verify_command(log_file: Path, since: Path | None) -> None:
    """Check that the log is well-formed, ordered and its hostdata recomputable."""
    log, report = verify_log(log_file, earlier=since)
    _succeed(report.results, f"VERIFIED: {len(log.rows)} rows", rows=len(log.rows))


@log_group.command("show")
@click.argument("log_file", type=_EXISTING_FILE)
@_json_option
def log_show_command(log_file: Path) -> None:
    """Verify the log, then print it as a table."""
    log, _ = verify_log(log_file)
    if _json_mode():
        click.echo(json.dumps([row.to_json() for row in log.rows], indent=2, sort_keys=True))
        return
    header = ("DEPLOYED_AT", "ENVIRONMENT", "GIT_SHA", "IMAGE_DIGEST", "CCE_HOSTDATA", "POLICY")
    table = [header] + [
        (
            row.deployed_at,
            row.environment,
            row.git_sha[:12],
            row.image_digest[:23],
            row.cce_hostdata[:16],
            "published" if row.cce_policy is not None else "-",
        )
        for row in log.rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


@log_group.command("append")
@click.argument("log_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--environment", required=True)
@click.option("--git-sha", required=True)
@click.option("--image-digest", required=True, help="sha256:<64 hex>")
@click.option("--kek", required=True, help="<vault-name>/<key-name>[/<version>]")
@click.option("--maa-endpoint", required=True, callback=_origin)
@click.option("--cosign-identity", required=True, help="https URL of the signing workflow.")
@click.option("--run-url", required=True, help="https URL of the deploying CI run.")
@click.option(
    "--policy",
    "policy_file",
    type=_EXISTING_FILE,
    default=None,
    help="The CCE policy; published in the row.",
)
@click.option(
    "--policy-format",
    type=click.Choice([f.value for f in PolicyFormat]),
    default=PolicyFormat.AUTO.value,
    show_default=True,
)
@click.option("--cce-hostdata", default=None, help="Hostdata when no policy is published.")
@click.option("--deployed-at", callback=_deployed_at, default=None, help="Default: now, UTC.")
@_json_option
def log_append_command(
    log_file: Path,
    environment: str,
    git_sha: str,
    image_digest: str,
    kek: str,
    maa_endpoint: Origin,
    cosign_identity: str,
    run_url: str,
    policy_file: Path | None,
    policy_format: str,
    cce_hostdata: str | None,
    deployed_at: str,
) -> None:
    """Append one release to the log; refuses to rewrite history."""
    cce_policy: str | None = None
    if policy_file is not None:
        try:
            data = policy_file.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read policy {policy_file}: {exc.strerror}") from exc
        rego, _ = policy_text(data, PolicyFormat(policy_format))
        cce_policy = base64.b64encode(rego).decode("ascii")
        if cce_hostdata is None:
            cce_hostdata = hostdata_of_rego(rego)
    if cce_hostdata is None:
        raise click.UsageError("give --policy (preferred) or --cce-hostdata")
    row = LogRow(
        cce_hostdata=cce_hostdata,
        cosign_identity=cosign_identity,
        deployed_at=deployed_at,
        environment=environment,
        git_sha=git_sha,
        image_digest=image_digest,
        kek=kek,
        maa_endpoint=maa_endpoint.url,
        run_url=run_url,
        cce_policy=cce_policy,
    )
    report = append_row(log_file, row)
    _succeed(
        report.results,
        f"APPENDED: {row.environment} {row.git_sha} {row.cce_hostdata}",
        row=row.to_json(),
    )


@cli.command("verify-instance")
@click.argument("url", callback=_origin)
@click.option("--log", "log_file", type=_EXISTING_FILE, required=True, help="The measurement log.")
@click.option("--environment", default=None, help="Only consider log rows of this environment.")
@_json_option
def verify_instance_command(url: Origin, log_file: Path, environment: str | None) -> None:
    """Verify that a running instance runs a release recorded in the log."""
    log, log_report = verify_log(log_file)
    log_check = CheckResult("log.verified", True, "a well-formed log", f"{len(log.rows)} rows")
    with open_client() as client:
        try:
            verdict = verify_instance(
                url, log=log, environment=environment, client=client, now=_now()
            )
        except AttestationError as exc:
            exc.results = (log_check, *exc.results)
            raise
    row = verdict.row
    _succeed(
        (log_check, *verdict.report.results),
        f"VERIFIED: {url.url} runs {row.git_sha} ({row.environment}, deployed {row.deployed_at});"
        f" TLS key {verdict.tls_spki_sha256}; data key {verdict.dek_origin or 'of unknown origin'}",
        build_sha=verdict.build_sha,
        nonce=verdict.nonce,
        tls_spki_sha256=verdict.tls_spki_sha256,
        dek_origin=verdict.dek_origin,
        row=row.to_json(),
    )
    del log_report


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run ``tap-attest`` with ``argv`` (default: the process arguments) and exit."""
    cli.main(args=argv, prog_name="tap-attest")
    raise SystemExit(0)  # pragma: no cover  (click always exits in standalone mode)
