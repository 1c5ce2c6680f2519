"""The headers signing and sidecar kinds add: agent copies dropped, the right scheme chosen."""

from __future__ import annotations

import pytest

from app.credential_kinds import KINDS
from app.errors import AuthModeUnavailable, CredentialMisconfigured
from app.proxy.context import AuthMode
from app.proxy.kind_headers import (
    OutgoingRequest,
    fields_of,
    oauth1_headers,
    sidecar_headers,
    sigv4_headers,
)
from tests.support.factories import make_credential

OAUTH1 = {"consumer_key": "ck", "consumer_secret": "cs", "bearer_token": "bt-0123456789"}
AWS = {"access_key_id": "AK", "secret_access_key": "sk", "region": "us-east-1", "service": "s3"}


def _request(method: str = "GET", headers: list[tuple[str, str]] | None = None) -> OutgoingRequest:
    return OutgoingRequest(method, "https://api.example.com/x?a=1", headers or [], b"")


@pytest.mark.parametrize(
    ("method", "mode", "scheme"),
    [
        # auto: reads with the bearer token, writes signed
        ("GET", "auto", "Bearer"),
        ("HEAD", "auto", "Bearer"),
        ("POST", "auto", "OAuth"),
        # forced
        ("POST", "bearer", "Bearer"),
        ("GET", "oauth1", "OAuth"),
    ],
)
def test_oauth1_scheme_by_method_and_mode(method: str, mode: AuthMode, scheme: str) -> None:
    request = _request(method, [("authorization", "forged"), ("Accept", "x")])
    headers, injected = oauth1_headers(make_credential(name="x"), OAUTH1, request, mode)
    auth = [v for n, v in headers if n.lower() == "authorization"]
    assert len(auth) == 1 and auth[0].startswith(scheme + " ")
    assert ("Accept", "x") in headers
    assert injected == ([("x.bearer_token", "bt-0123456789")] if scheme == "Bearer" else [])


def test_oauth1_bearer_without_a_token_is_refused() -> None:
    fields = {k: v for k, v in OAUTH1.items() if k != "bearer_token"}
    with pytest.raises(AuthModeUnavailable):
        oauth1_headers(make_credential(), fields, _request(), "bearer")


def test_sigv4_signs_only_what_it_should_and_drops_agent_copies() -> None:
    request = _request(
        "PUT",
        [
            ("X-Amz-Date", "20000101T000000Z"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("x-amz-acl", "private"),
            ("Content-Type", "text/plain"),
            ("X-Custom", "not signed"),
        ],
    )
    headers, _ = sigv4_headers(make_credential(), AWS, request)
    names = [n.lower() for n, _ in headers]
    assert names.count("x-amz-date") == 1 and names.count("x-amz-content-sha256") == 1
    auth = dict(headers)["Authorization"]
    assert "SignedHeaders=content-type;host;x-amz-acl;x-amz-content-sha256;x-amz-date," in auth
    assert (
        dict(headers)["x-amz-acl"] == "private" and "UNSIGNED-PAYLOAD" not in dict(headers).values()
    )


def test_sidecar_headers_replace_agent_copies_and_refuse_control_characters() -> None:
    request = _request("POST", [("X-OAuth-Credential-Data", "forged"), ("x-oauth-target", "evil")])
    headers, injected = sidecar_headers(make_credential(name="m"), "value", request, None)
    assert [(n, v) for n, v in headers if n.lower().startswith("x-oauth")] == [
        ("X-OAuth-Credential", "m"),
        ("X-OAuth-Credential-Data", "value"),
    ]
    assert ("X-TAP-Method", "POST") in headers and injected == [("m", "value")]
    with pytest.raises(CredentialMisconfigured):
        sidecar_headers(make_credential(), "a\r\nX-Evil: 1", request, None)


def test_a_stored_value_that_no_longer_fits_is_a_configuration_error() -> None:
    with pytest.raises(CredentialMisconfigured) as caught:
        fields_of(make_credential(), KINDS["aws-sigv4"], '{"access_key_id": "AK"}')
    assert caught.value.extra["field"] == "value.secret_access_key"
    assert "AK" not in caught.value.message
