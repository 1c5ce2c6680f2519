"""OAuth 2 credentials through ``/forward``: tokens obtained once, refreshed once, never leaked.

Every test drives a real tap-proxy (and, for replicas, two of them on one
Postgres) against a loopback authorization server whose token endpoint counts
what it was asked.
"""

from __future__ import annotations

import base64
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.integration.oauth2.conftest import (
    CREDENTIAL,
    OAuthTeam,
    add_oauth_credential,
    bundle,
)
from tests.support.fake_oauth2 import FakeAuthorizationServer
from tests.support.proxy import start_proxy
from tests.support.served_team import ServedTeam
from tests.support.waiting import wait_for


def _concurrently(count: int, call: object) -> list[httpx.Response]:
    assert callable(call)
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


def test_a_token_is_obtained_once_and_reused(oauth: OAuthTeam) -> None:
    first = oauth.forward()
    second = oauth.forward()

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert oauth.auth.issued_tokens() == 1
    request = oauth.auth.token_requests[0]
    assert request["grant_type"] == "refresh_token"
    assert request["auth"] == "basic"
    # The same live token reached the API both times; the bundle itself never did.
    assert oauth.auth.api_tokens[0] == oauth.auth.api_tokens[1]
    assert oauth.auth.api_tokens[0].startswith("at_")


def test_an_expired_token_is_refreshed_once_for_twenty_concurrent_requests(
    oauth: OAuthTeam,
) -> None:
    oauth.auth.expires_in = 1
    assert oauth.forward().status_code == 200
    first_token = oauth.auth.api_tokens[-1]
    wait_for(lambda: oauth.auth.expired(first_token), bool)
    oauth.auth.expires_in = 3600
    oauth.auth.token_delay_secs = 0.5  # the refresh is still under way when the others arrive

    answers = _concurrently(20, oauth.forward)

    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers]
    assert oauth.auth.issued_tokens() == 2
    assert set(oauth.auth.api_tokens[1:]) == {oauth.auth.api_tokens[-1]} != {first_token}


def test_two_replicas_refresh_once(oauth: OAuthTeam, tmp_path: Path) -> None:
    replica = start_proxy(tmp_path, oauth.team.proxy.env, name="replica")
    try:
        oauth.auth.token_delay_secs = 0.5
        with ThreadPoolExecutor(max_workers=20) as pool:
            futures = [
                pool.submit(oauth.forward, proxy_url=url) for url in [oauth.url, replica.url] * 10
            ]
            answers = [f.result() for f in futures]
    finally:
        assert replica.stop() == 0, replica.log()

    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers]
    assert oauth.auth.issued_tokens() == 1
    assert len(set(oauth.auth.api_tokens)) == 1


def test_a_401_refreshes_and_retries_once(oauth: OAuthTeam) -> None:
    assert oauth.forward().status_code == 200
    old = oauth.auth.api_tokens[-1]
    oauth.auth.revoke_access_tokens()

    answer = oauth.forward()

    assert answer.status_code == 200, answer.text
    assert oauth.auth.issued_tokens() == 2
    assert oauth.auth.api_tokens[-2:] == [old, oauth.auth.api_tokens[-1]]
    assert oauth.auth.api_tokens[-1] != old
    # The rotated refresh token was kept: the second refresh presented it.
    first, second = oauth.auth.token_requests
    assert first["refresh_token"] == oauth.auth.refresh_token
    assert second["refresh_token"] != first["refresh_token"]


def test_a_second_401_is_passed_on_never_a_loop(oauth: OAuthTeam) -> None:
    assert oauth.forward().status_code == 200
    oauth.auth.always_401 = True
    calls_before = len(oauth.auth.api_tokens)

    answer = oauth.forward()

    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_token"}
    assert len(oauth.auth.api_tokens) - calls_before == 2
    assert oauth.auth.issued_tokens() == 2


def test_a_revoked_refresh_token_is_a_502_with_an_audit_record(oauth: OAuthTeam) -> None:
    oauth.auth.revoke_refresh_tokens()

    answer = oauth.forward()

    assert answer.status_code == 502, answer.text
    body = answer.json()
    assert body["error"] == "oauth_refresh_failed"
    assert body["oauth_error"] == "invalid_grant"
    assert body["credential"] == CREDENTIAL
    # The endpoint's description echoed the secrets; none of it is passed on.
    for secret in (oauth.auth.client_secret, oauth.auth.refresh_token):
        assert secret not in answer.text
    assert "revoked" not in answer.text
    assert oauth.auth.api_tokens == []
    entry = oauth.audit_entry(answer.headers["X-Request-Id"])
    assert entry["error"] == "oauth_refresh_failed"
    assert entry["upstream_status"] is None


def test_a_refused_refresh_is_not_retried_on_every_request(oauth: OAuthTeam) -> None:
    """An agent retrying in a loop must not turn a revoked grant into a flood of refresh
    attempts; re-authorizing the credential (a new value) ends the back-off at once."""
    oauth.auth.revoke_refresh_tokens()

    answers = [oauth.forward() for _ in range(5)]

    assert [a.status_code for a in answers] == [502] * 5
    assert {a.json()["oauth_error"] for a in answers} == {"invalid_grant"}
    assert oauth.auth.issued_tokens() == 1, "the endpoint was asked once"
    waited = answers[-1]
    assert int(waited.headers["Retry-After"]) == waited.json()["retry_after_secs"] > 0
    # The admin's verify always asks (it is how a human sees the cause).
    verify = oauth.admin("POST", f"/team/credentials/{CREDENTIAL}/verify")
    assert verify.json()["error"] == "invalid_grant" and oauth.auth.issued_tokens() == 2

    fresh = oauth.auth.grant_refresh_token()
    patched = oauth.admin(
        "PATCH", f"/team/credentials/{CREDENTIAL}/secret", {"value_patch": {"refresh_token": fresh}}
    )
    assert patched.status_code == 200, patched.text
    # The new value reaches the worker's cache through NOTIFY; then the endpoint is asked.
    recovered = wait_for(oauth.forward, lambda answer: answer.status_code == 200)
    assert recovered.status_code == 200, recovered.text
    assert oauth.auth.token_requests[-1]["refresh_token"] == fresh


def test_client_credentials_grant(served: ServedTeam, auth: FakeAuthorizationServer) -> None:
    key = add_oauth_credential(
        served,
        bundle(
            auth, refresh_token=None, scopes=["read", "write"], client_auth="client_secret_post"
        ),
    )
    team = OAuthTeam(served, auth, key)

    answer = team.forward()

    assert answer.status_code == 200, answer.text
    (request,) = auth.token_requests
    assert request == {
        "grant_type": "client_credentials",
        "scope": "read write",
        "client_id": auth.client_id,
        "client_secret": auth.client_secret,
        "auth": "post",
    }


def test_every_secret_is_scrubbed_from_the_response(oauth: OAuthTeam) -> None:
    answer = oauth.forward("/api/echo")

    assert answer.status_code == 200, answer.text
    token = oauth.auth.api_tokens[-1]
    secrets = [token, oauth.auth.client_secret, *oauth.auth.live_refresh_tokens]
    leaked_text = answer.text + repr(dict(answer.headers))
    for secret in secrets:
        for form in (
            secret,
            base64.b64encode(secret.encode()).decode(),
            urllib.parse.quote(secret, safe=""),
        ):
            assert form not in leaked_text
    assert f"[REDACTED:{CREDENTIAL}" in answer.text


def test_a_placeholder_cannot_paste_the_bundle(oauth: OAuthTeam) -> None:
    answer = httpx.post(
        oauth.url + "/forward",
        headers={
            "X-TAP-Key": oauth.key,
            "X-TAP-Target": oauth.auth.url + "/api/items",
            "X-TAP-Method": "GET",
            "Authorization": f"Bearer <CREDENTIAL:{CREDENTIAL}>",
        },
        timeout=60,
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "placeholder_position_violation"
    assert oauth.auth.api_tokens == []
