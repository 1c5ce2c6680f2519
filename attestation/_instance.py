"""Verify a running TAP instance against the measurement log.

The HTTP contract this relies on (TAP serves exactly this in enclave mode)::

    GET <instance>/health
        200 {"status": "ok", "build": {"version": "<version>", "sha": "<40 hex>"}}

    GET <instance>/attestation?nonce=<64 hex>
        200 {"token": "<MAA token>"}
        The token is fresh: the instance asked the attestation endpoint for it
        with runtime data that is a JSON object whose "nonce" member is the
        nonce of the query, whose "tls-spki-sha256" member is the SHA-256 of
        the public key of the TLS certificate it serves, and whose "build_sha"
        member is its build (see _runtime_data); the attestation endpoint
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
    (7) instance.tls-key       the attested "tls-spki-sha256" is the hash of the
                               public key of the certificate this verifier was
                               served on the /attestation connection: nobody
                               stands between us and the attested code
    (8) instance.build-sha     the attested "build_sha" is the sha /health gave
    (9) log.row                the newest of those rows whose hostdata is the
                               token's: the release the instance runs

NOTE: the build sha in /health is self-reported; it only selects log rows
until (8) shows the measured code says the same. What binds the instance to
the log is the hostdata the hardware measured and the attestation endpoint
signed, together with a nonce we chose; (7) binds it to the TLS key we talked
to, so a relay that forwards /attestation from a real instance fails.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import httpx

from attestation._checks import CheckRunner, Held, Report
from attestation._endpoint import Origin
from attestation._http import fetch_json, get_json
from attestation._maa_token import VerifiedToken, verify_token
from attestation._measurement_log import LogRow, MeasurementLog
from attestation._runtime_data import (
    RUNTIME_BUILD_SHA,
    RUNTIME_DEK_ORIGIN,
    RUNTIME_TLS_KEY,
    spki_sha256,
)
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
    tls_spki_sha256: str
    """The attested TLS key, which is the key this verifier talked to."""
    dek_origin: str | None
    """What the instance attested about its data key: ``generated`` or ``migrated``."""
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


@dataclass(frozen=True, slots=True)
class _Answer:
    token: str
    peer_spki_sha256: str | None
    """The key of the certificate the /attestation answer came over; ``None`` without TLS."""


def _check_attestation(client: httpx.Client, instance: Origin, nonce: str) -> Held[_Answer]:
    name = "instance.attestation"
    url = instance.join(ATTESTATION_PATH) + "?" + urlencode({"nonce": nonce})
    fetched = fetch_json(client, url)
    token = fetched.body.get("token")
    if not isinstance(token, str):
        raise _failed(name, '{"token": "<string>"}', f"members {sorted(fetched.body)}")
    peer = fetched.peer_certificate
    answer = _Answer(token, spki_sha256(peer) if peer is not None else None)
    return Held(name, '{"token": "<string>"}', f"a token of {len(token)} characters", answer)


def _runtime(verified: VerifiedToken) -> dict[str, object]:
    runtime = verified.claims.get("x-ms-runtime")
    return dict(runtime) if isinstance(runtime, dict) else {}


def _check_tls_key(verified: VerifiedToken, peer: str | None) -> Held[str]:
    name = "instance.tls-key"
    attested = _runtime(verified).get(RUNTIME_TLS_KEY)
    expected = f"the attested key {attested}" if isinstance(attested, str) else "an attested key"
    actual = f"the server presented {peer}" if peer is not None else "no TLS connection"
    if not isinstance(attested, str) or peer is None or not hmac.compare_digest(attested, peer):
        raise _failed(name, expected, actual)
    return Held(name, expected, actual, attested)


def _check_build_sha(verified: VerifiedToken, sha: str) -> Held[None]:
    name = "instance.build-sha"
    attested = _runtime(verified).get(RUNTIME_BUILD_SHA)
    if attested != sha:
        raise _failed(name, f"{sha} (from /health)", f"attested {attested!r}")
    return Held(name, f"{sha} (from /health)", f"attested {attested}", None)


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
    answer = checks.run(lambda: _check_attestation(client, instance, nonce))  # (5)
    allowed = {row.cce_hostdata for row in rows}
    verified = verify_token(  # (6)
        answer.token, keys=keys, allowed_hostdata=allowed, nonce=nonce, now=now, checks=checks
    )
    tls_key = checks.run(lambda: _check_tls_key(verified, answer.peer_spki_sha256))  # (7)
    checks.run(lambda: _check_build_sha(verified, sha))  # (8)
    row = checks.run(lambda: _check_row(rows, verified.hostdata))  # (9)
    origin = _runtime(verified).get(RUNTIME_DEK_ORIGIN)
    logger.debug("instance %s verified", instance.url)
    return InstanceVerdict(
        build_sha=sha,
        row=row,
        nonce=nonce,
        tls_spki_sha256=tls_key,
        dek_origin=origin if isinstance(origin, str) else None,
        report=checks.report(),
    )
