"""The token endpoint is a destination like any other: host binding, https, the SSRF guard.

Here TAP runs with the guard on (loopback refused), so a token endpoint on
loopback must never be called, whatever the credential says.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.oauth2.conftest import bundle
from tests.support.fake_oauth2 import FakeAuthorizationServer
from tests.support.served_team import served_team


@pytest.mark.parametrize(
    "scheme",
    [
        "https",  # refused by the SSRF guard (loopback)
        "http",  # refused before that: a client secret never travels over plain http
    ],
)
def test_a_token_endpoint_on_loopback_is_never_called(
    tmp_path: Path, database_url: str, auth: FakeAuthorizationServer, scheme: str
) -> None:
    token_url = auth.token_url.replace("http://", f"{scheme}://")
    with served_team(tmp_path, database_url, DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS="0") as team:
        created = httpx.post(
            team.url + "/team/credentials",
            headers=team.admin_headers,
            json={
                "name": "svc",
                "auth_type": "oauth2",
                "allowed_hosts": ["127.0.0.1"],
                "value": bundle(auth, token_url=token_url),
            },
        )
        assert created.status_code == 201, created.text

        answer = httpx.post(team.url + "/team/credentials/svc/verify", headers=team.admin_headers)

    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is False
    assert answer.json()["error"] == "token_url_not_allowed"
    assert auth.token_requests == []
