"""Managing OAuth 2 credentials: per-field validation on the way in, and ``verify``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.oauth2.conftest import CREDENTIAL, OAuthTeam, bundle
from tests.support.fake_oauth2 import FakeAuthorizationServer
from tests.support.served_team import CREDENTIAL as API_KEY_CREDENTIAL
from tests.support.served_team import ServedTeam
from tests.support.upstream import Upstream


def _create(team: ServedTeam, value: Any, **extra: Any) -> httpx.Response:
    return httpx.post(
        team.url + "/team/credentials",
        headers=team.admin_headers,
        json={
            "name": "bad",
            "auth_type": "oauth2",
            "allowed_hosts": ["127.0.0.1"],
            "value": value,
            **extra,
        },
    )


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"client_secret": None}, "client_secret"),  # each field's own rules: tests/unit
        ({"token_url": "https://auth.elsewhere.example/token"}, "token_url"),  # not allowed_hosts
    ],
)
def test_a_bad_bundle_is_refused_naming_the_field(
    served: ServedTeam, auth: FakeAuthorizationServer, override: dict[str, Any], field: str
) -> None:
    answer = _create(served, bundle(auth, **override))

    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == "invalid_credential_value"
    assert body["field"] == f"value.{field}"
    assert auth.client_secret not in answer.text


def test_a_patched_secret_is_validated_too(oauth: OAuthTeam) -> None:
    answer = oauth.admin(
        "PATCH", f"/team/credentials/{CREDENTIAL}/secret", {"value_patch": {"token_url": "x"}}
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "value.token_url"


def test_a_string_value_for_oauth2_is_refused(served: ServedTeam) -> None:
    answer = _create(served, "just-a-token")

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_credential_value"


def test_the_stored_bundle_shows_field_names_only(oauth: OAuthTeam) -> None:
    listed = oauth.admin("GET", f"/team/credentials/{CREDENTIAL}")

    assert listed.status_code == 200
    assert listed.json()["value_hint"] == "{client_id, client_secret, refresh_token, token_url}"
    assert oauth.auth.client_secret not in listed.text


def test_verify_obtains_a_token(oauth: OAuthTeam) -> None:
    answer = oauth.admin("POST", f"/team/credentials/{CREDENTIAL}/verify")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "name": CREDENTIAL,
        "kind": "oauth2",
        "check": "token_refresh",
        "ok": True,
        "error": None,
    }
    assert oauth.auth.issued_tokens() == 1
    # The token verify obtained serves the next request.
    assert oauth.forward().status_code == 200
    assert oauth.auth.issued_tokens() == 1


def test_verify_reports_the_endpoints_error_code_and_nothing_else(oauth: OAuthTeam) -> None:
    oauth.auth.revoke_refresh_tokens()

    answer = oauth.admin("POST", f"/team/credentials/{CREDENTIAL}/verify")

    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is False
    assert answer.json()["error"] == "invalid_grant"
    for secret in (oauth.auth.client_secret, oauth.auth.refresh_token, "revoked"):
        assert secret not in answer.text


def test_verify_a_kind_without_a_check(served: ServedTeam) -> None:
    answer = httpx.post(
        served.url + f"/team/credentials/{API_KEY_CREDENTIAL}/verify", headers=served.admin_headers
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "verify_unsupported"


def test_verify_an_unknown_credential(served: ServedTeam) -> None:
    answer = httpx.post(served.url + "/team/credentials/nope/verify", headers=served.admin_headers)

    assert answer.status_code == 404


def _header_credential(served: ServedTeam, verify_url: str) -> httpx.Response:
    return httpx.post(
        served.url + "/team/credentials",
        headers=served.admin_headers,
        json={
            "name": "gh",
            "allowed_hosts": ["127.0.0.1"],
            "value": "ghp_verify_secret_value",
            "verify_url": verify_url,
        },
    )


def test_verify_calls_a_header_credentials_verify_url(
    served: ServedTeam, upstream: Upstream, auth: FakeAuthorizationServer
) -> None:
    assert _header_credential(served, upstream.url + "/user").status_code == 201

    answer = httpx.post(served.url + "/team/credentials/gh/verify", headers=served.admin_headers)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "name": "gh",
        "kind": "api-key",
        "check": "verify_url",
        "ok": True,
        "error": None,
    }
    (call,) = upstream.received
    assert (call.method, call.path) == ("GET", "/user")
    assert call.headers["Authorization"] == "Bearer ghp_verify_secret_value"
    # An upstream that refuses: its status, never its body.
    patched = httpx.patch(
        served.url + "/team/credentials/gh",
        headers=served.admin_headers,
        json={"verify_url": auth.url + "/api/me"},
    )
    assert patched.status_code == 200, patched.text
    refused = httpx.post(served.url + "/team/credentials/gh/verify", headers=served.admin_headers)
    assert refused.json()["ok"] is False
    assert refused.json()["error"] == "http_401"
    assert "invalid_token" not in refused.text


def test_a_verify_url_outside_allowed_hosts_is_refused(served: ServedTeam) -> None:
    answer = _header_credential(served, "https://api.example.com/user")

    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "verify_url"
