"""Tests for attestation/_instance.py, against fake servers on loopback."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from attestation import (
    FetchError,
    LogRow,
    MeasurementLog,
    Origin,
    VerificationError,
    verify_instance,
)
from tests.support.attestation import (
    GIT_SHA,
    HOSTDATA,
    LoopbackServer,
    fake_instance,
    fake_maa,
    good_claims,
    row_fields,
    serve,
)


class Deployment:
    """A fake attestation endpoint and a fake TAP instance, both on loopback."""

    def __init__(self, stack: ExitStack, tls: Any, key: Any, **instance_kw: Any) -> None:
        self.maa: LoopbackServer = stack.enter_context(serve(fake_maa(key), tls))
        instance_kw.setdefault("tls_key", tls.spki_sha256)
        self.instance: LoopbackServer = stack.enter_context(
            serve(fake_instance(key, lambda: self.maa.origin, **instance_kw), tls)
        )

    def log(self, **overrides: Any) -> MeasurementLog:
        return MeasurementLog((LogRow(**row_fields(maa_endpoint=self.maa.origin, **overrides)),))


@pytest.fixture
def deploy(loopback_tls: Any, signing_key: Any) -> Any:
    with ExitStack() as stack:
        yield lambda **kw: Deployment(stack, loopback_tls, signing_key, **kw)


def run(
    d: Deployment, client: httpx.Client, log: MeasurementLog | None = None, env: str | None = None
) -> Any:
    return verify_instance(
        Origin.parse(d.instance.origin),
        log=log if log is not None else d.log(),
        environment=env,
        client=client,
        now=datetime.now(tz=UTC),
    )


def test_accepts_and_binds_a_fresh_nonce(
    deploy: Callable[..., Deployment], tls_client: httpx.Client
) -> None:
    d = deploy()
    first = run(d, tls_client)
    second = run(d, tls_client)
    assert first.row.cce_hostdata == HOSTDATA
    assert first.build_sha == GIT_SHA
    assert [r.name for r in first.report.results][-3:] == [
        "instance.tls-key",
        "instance.build-sha",
        "log.row",
    ]
    nonces = [r.query["nonce"][0] for r in d.instance.received if r.path == "/attestation"]
    assert nonces == [first.nonce, second.nonce]
    assert first.nonce != second.nonce and len(first.nonce) == 64


def claims_with(**overrides: Any) -> Callable[[str, str], dict[str, Any]]:
    return lambda iss, nonce: good_claims(
        iss=iss, now=datetime.now(tz=UTC), nonce=nonce, **overrides
    )


@pytest.mark.parametrize(
    ("instance_kw", "log_kw", "env", "check"),
    [
        # the instance runs a sha the log does not know
        ({"sha": "4" * 40}, {}, None, "log.rows"),
        ({}, {}, "staging", "log.rows"),
        # a replayed token: bound to someone else's nonce
        (
            {
                "claims": lambda iss, n: good_claims(
                    iss=iss, now=datetime.now(tz=UTC), nonce="0" * 64
                )
            },
            {},
            None,
            "claim.x-ms-runtime.nonce",
        ),
        # a measurement other than the log row's
        (
            {"claims": claims_with(**{"x-ms-sevsnpvm-hostdata": "5" * 64})},
            {},
            None,
            "claim.x-ms-sevsnpvm-hostdata",
        ),
        # a debuggable enclave
        (
            {"claims": claims_with(**{"x-ms-sevsnpvm-is-debuggable": True})},
            {},
            None,
            "claim.x-ms-sevsnpvm-is-debuggable",
        ),
        # a token from another endpoint than the one the log names
        (
            {
                "claims": lambda iss, n: good_claims(
                    iss="https://maa.example", now=datetime.now(tz=UTC), nonce=n
                )
            },
            {},
            None,
            "claim.iss",
        ),
    ],
)
def test_refusals(
    deploy: Callable[..., Deployment],
    tls_client: httpx.Client,
    instance_kw: dict[str, Any],
    log_kw: dict[str, Any],
    env: str | None,
    check: str,
) -> None:
    d = deploy(**instance_kw)
    with pytest.raises(VerificationError) as info:
        run(d, tls_client, d.log(**log_kw), env)
    assert info.value.check == check


def test_verdict_names_the_attested_tls_key_and_data_key_origin(
    deploy: Callable[..., Deployment], loopback_tls: Any, tls_client: httpx.Client
) -> None:
    d = deploy(
        claims=lambda iss, n: good_claims(
            iss=iss,
            now=datetime.now(tz=UTC),
            nonce=None,
            **{"x-ms-runtime": {"nonce": n, "dek_origin": "migrated"}},
        )
    )
    verdict = run(d, tls_client)
    assert verdict.tls_spki_sha256 == loopback_tls.spki_sha256
    assert verdict.dek_origin == "migrated"


def _relayed(iss: str, nonce: str) -> dict[str, Any]:
    # A relay in the middle: it forwards /attestation to a genuine instance, so the token
    # is real, fresh and for our nonce, but it attests the genuine instance's TLS key.
    return good_claims(
        iss=iss,
        now=datetime.now(tz=UTC),
        nonce=None,
        **{"x-ms-runtime": {"nonce": nonce, "tls-spki-sha256": "ab" * 32, "build_sha": GIT_SHA}},
    )


def test_a_relay_with_another_tls_key_is_refused(
    deploy: Callable[..., Deployment], loopback_tls: Any, tls_client: httpx.Client
) -> None:
    d = deploy(claims=_relayed)
    with pytest.raises(VerificationError) as info:
        run(d, tls_client)
    assert info.value.check == "instance.tls-key"
    assert info.value.expected == f"the attested key {'ab' * 32}"
    assert info.value.actual == f"the server presented {loopback_tls.spki_sha256}"


def test_a_token_that_attests_no_tls_key_is_refused(
    deploy: Callable[..., Deployment], tls_client: httpx.Client
) -> None:
    d = deploy(tls_key=None)
    with pytest.raises(VerificationError) as info:
        run(d, tls_client)
    assert info.value.check == "instance.tls-key"
    assert info.value.expected == "an attested key"


def test_the_attested_build_must_be_the_reported_one(
    deploy: Callable[..., Deployment], tls_client: httpx.Client
) -> None:
    d = deploy(
        claims=lambda iss, n: good_claims(
            iss=iss,
            now=datetime.now(tz=UTC),
            nonce=None,
            **{"x-ms-runtime": {"nonce": n, "build_sha": "9" * 40}},
        )
    )
    with pytest.raises(VerificationError) as info:
        run(d, tls_client)
    assert info.value.check == "instance.build-sha"
    assert info.value.expected == f"{GIT_SHA} (from /health)"
    assert info.value.actual == f"attested {'9' * 40!r}"


def test_health_must_report_a_sha(loopback_tls: Any, tls_client: httpx.Client) -> None:
    handler = lambda r, o: (200, {"status": "ok", "build": {"sha": "unknown"}})  # noqa: E731
    with serve(handler, loopback_tls) as instance:
        log = MeasurementLog((LogRow(**row_fields()),))
        with pytest.raises(VerificationError) as info:
            verify_instance(
                Origin.parse(instance.origin),
                log=log,
                environment=None,
                client=tls_client,
                now=datetime.now(tz=UTC),
            )
    assert info.value.check == "instance.health"


def test_unhealthy_instance_could_not_be_checked(
    loopback_tls: Any, tls_client: httpx.Client
) -> None:
    with serve(lambda r, o: (503, {"status": "error"}), loopback_tls) as instance:
        log = MeasurementLog((LogRow(**row_fields()),))
        with pytest.raises(FetchError):
            verify_instance(
                Origin.parse(instance.origin),
                log=log,
                environment=None,
                client=tls_client,
                now=datetime.now(tz=UTC),
            )


def test_attestation_answer_without_a_token(
    deploy: Callable[..., Deployment], loopback_tls: Any, tls_client: httpx.Client
) -> None:
    d = deploy()
    d.instance.handler = lambda r, o: (
        (200, {"status": "ok", "build": {"sha": GIT_SHA}})
        if r.path == "/health"
        else (200, {"jwt": "x"})
    )
    with pytest.raises(VerificationError) as info:
        run(d, tls_client)
    assert info.value.check == "instance.attestation"


def test_rows_naming_two_endpoints_need_an_environment(
    deploy: Callable[..., Deployment], tls_client: httpx.Client
) -> None:
    d = deploy()
    rows = (
        LogRow(**row_fields(maa_endpoint=d.maa.origin)),
        LogRow(**row_fields(environment="staging", maa_endpoint="https://other.example")),
    )
    with pytest.raises(VerificationError) as info:
        run(d, tls_client, MeasurementLog(rows))
    assert info.value.check == "log.endpoint"
    assert run(d, tls_client, MeasurementLog(rows), "production").row == rows[0]
