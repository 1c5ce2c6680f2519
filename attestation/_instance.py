"""Verify a running TAP instance against the measurement log.

The HTTP contract this relies on (TAP serves exactly this in enclave mode)::

    GET <instance>/health
        200 {"status": "ok", "build": {"version": "<version>", "sha": "<40 hex>"}}

    GET <instance>/attestation?nonce=<64 hex>
        200 {"token": "<MAA token>"}
        The token is fresh: the instance asked the attestation endpoint for it
        with runtime data that is a JSON object whose "nonce" member is the
        nonce of the query (other members may follow); the attestation endpoint
        copies that object into the token's "x-ms-runtime" claim.

The checks, in order; the first failure stops verification::

    (1) instance.health        /health answers status "ok" and a 40-hex build sha
    (2) log.rows               the log holds at least one row for that sha
                               (in the given environment)
    (3) log.endpoint           those rows name one attestation endpoint
    (4) endpoint.keys          that endpoint's metadata and key set are fetched;
                               endpoint.issuer and endpoint.jwks_uri must hold
    (5) instance.attestation   /attestation answers {"token": "..."} for a
                               fresh random nonce
    (6) token checks (1) to (17) of _maa_token, with the fresh nonce and the
        hostdata of the rows found in (2)
    (7) log.row                the newest of those rows whose hostdata is the
                               token's: the release the instance runs

NOTE: the build sha in /health is self-reported; it only selects log rows.
What binds the instance to the log is the hostdata the hardware measured and
the attestation endpoint signed, together with a nonce we chose.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import httpx

from attestation._checks import CheckRunner, Held, Report
from attestation._endpoint import Origin
from attestation._http import get_json
from attestation._maa_token import verify_token
from attestation._measurement_log import LogRow, MeasurementLog
from attestation._signing_keys import check_fetched_keys
from attestation.errors import VerificationError

__all__ = ["ATTESTATION_PATH", "HEALTH_PATH", "NONCE_BYTES", "InstanceVerdict", "verify_instance"]

logger = logging.getLogger(__name__)

HEALTH_PATH = "/health"
ATTESTATION_PATH = "/attestation"

NONCE_BYTES = 32
"""Random bytes in each nonce; sent as 64 lowercase hex digits."""

_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True, slots=True)
class InstanceVerdict:
    """What a verified instance runs."""

    build_sha: str
    """The build sha the instance reported."""
    row: LogRow
    """The log row whose measurement the instance proved."""
    nonce: str
    """The nonce the token was bound to."""
    report: Report
    """Every check that held, in order."""


def _check_health(client: httpx.Client, instance: Origin) -> Held[str]:
    name = "instance.health"
    expected = 'status "ok" and a 40-hex build sha'
    body = get_json(client, instance.join(HEALTH_PATH))
    build = body.get("build")
    sha = build.get("sha") if isinstance(build, dict) else None
    if body.get("status") != "ok" or not isinstance(sha, str) or _SHA.fullmatch(sha) is None:
        actual = f"status {body.get('status')!r}, build sha {sha!r}"
        raise _failed(name, expected, actual)
    version = build.get("version") if isinstance(build, dict) else None
    return Held(name, expected, f"sha {sha}, version {version!r}", sha)


def _check_rows(log: MeasurementLog, sha: str, environment: str | None) -> Held[tuple[LogRow, ...]]:
    name = "log.rows"
    where = f" in {environment}" if environment is not None else ""
    expected = f"a row for {sha}{where}"
    rows = log.rows_for(sha, environment)
    if not rows:
        raise _failed(name, expected, "no such row")
    return Held(name, expected, f"{len(rows)} rows", rows)


def _check_endpoint(rows: tuple[LogRow, ...]) -> Held[Origin]:
    name = "log.endpoint"
    endpoints = sorted({row.maa_endpoint for row in rows})
    if len(endpoints) != 1:
        raise _failed(name, "one attestation endpoint", f"{endpoints}; choose an environment")
    return Held(name, "one attestation endpoint", endpoints[0], Origin.parse(endpoints[0]))


def _check_attestation(client: httpx.Client, instance: Origin, nonce: str) -> Held[str]:
    name = "instance.attestation"
    url = instance.join(ATTESTATION_PATH) + "?" + urlencode({"nonce": nonce})
    body = get_json(client, url)
    token = body.get("token")
    if not isinstance(token, str):
        raise _failed(name, '{"token": "<string>"}', f"members {sorted(body)}")
    return Held(name, '{"token": "<string>"}', f"a token of {len(token)} characters", token)


def _check_row(rows: tuple[LogRow, ...], hostdata: str) -> Held[LogRow]:
    name = "log.row"
    matching = [row for row in rows if row.cce_hostdata == hostdata]
    if not matching:
        raise _failed(name, "a row with the token's hostdata", hostdata)
    row = matching[-1]
    return Held(
        name,
        "the row the token's hostdata names",
        f"{row.environment} deployed {row.deployed_at}",
        row,
    )


def _failed(name: str, expected: str, actual: str) -> VerificationError:
    return VerificationError(name, expected=expected, actual=actual)


def verify_instance(
    instance: Origin,
    *,
    log: MeasurementLog,
    environment: str | None,
    client: httpx.Client,
    now: datetime,
) -> InstanceVerdict:
    """Verify that ``instance`` runs a release recorded in ``log``.

    A fresh random nonce is made for every call.

    Raises:
        FetchError: the instance or the attestation endpoint could not be reached.
        VerificationError: a check failed; ``check`` names it.
    """
    checks = CheckRunner()
    sha = checks.run(lambda: _check_health(client, instance))  # (1)
    rows = checks.run(lambda: _check_rows(log, sha, environment))  # (2)
    endpoint = checks.run(lambda: _check_endpoint(rows))  # (3)
    keys = checks.run(lambda: check_fetched_keys(client, endpoint))  # (4)
    nonce = secrets.token_hex(NONCE_BYTES)
    token = checks.run(lambda: _check_attestation(client, instance, nonce))  # (5)
    allowed = {row.cce_hostdata for row in rows}
    verified = verify_token(  # (6)
        token, keys=keys, allowed_hostdata=allowed, nonce=nonce, now=now, checks=checks
    )
    row = checks.run(lambda: _check_row(rows, verified.hostdata))  # (7)
    logger.debug("instance %s verified", instance.url)
    return InstanceVerdict(build_sha=sha, row=row, nonce=nonce, report=checks.report())
