"""A served team with an OAuth 2 credential ``svc`` whose token endpoint and API are loopback fakes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_oauth2 import FakeAuthorizationServer
from tests.support.served_team import ServedTeam, served_team
from tests.support.waiting import wait_for

CREDENTIAL = "svc"


@dataclass
class OAuthTeam:
    team: ServedTeam
    auth: FakeAuthorizationServer
    key: str
    """An agent key that may use ``svc``."""

    @property
    def url(self) -> str:
        return self.team.url

    def forward(
        self, path: str = "/api/items", *, proxy_url: str | None = None, method: str = "GET"
    ) -> httpx.Response:
        return httpx.post(
            (proxy_url or self.url) + "/forward",
            headers={
                "X-TAP-Key": self.key,
                "X-TAP-Credential": CREDENTIAL,
                "X-TAP-Target": self.auth.url + path,
                "X-TAP-Method": method,
            },
            timeout=60,
        )

    def admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method,
            self.url + path,
            headers=self.team.admin_headers,
            json=body,
            timeout=60,
        )

    def audit_entry(self, request_id: str) -> dict[str, Any]:
        """The audit entry of one request, once written (records are written in batches)."""

        def find() -> dict[str, Any] | None:
            body = httpx.get(
                self.url + "/agent/logs?limit=50", headers={"X-TAP-Key": self.key}
            ).json()
            return next((e for e in body["entries"] if e["request_id"] == request_id), None)

        found = wait_for(find, lambda entry: entry is not None)
        assert found is not None
        return found


def bundle(auth: FakeAuthorizationServer, **override: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "client_id": auth.client_id,
        "client_secret": auth.client_secret,
        "refresh_token": auth.refresh_token,
        "token_url": auth.token_url,
    }
    value.update(override)
    return {k: v for k, v in value.items() if v is not None}


def add_oauth_credential(team: ServedTeam, value: dict[str, Any], name: str = CREDENTIAL) -> str:
    """Create the credential through the admin API and an agent for it; returns the agent's key."""
    created = httpx.post(
        team.url + "/team/credentials",
        headers=team.admin_headers,
        json={"name": name, "auth_type": "oauth2", "allowed_hosts": ["127.0.0.1"], "value": value},
    )
    assert created.status_code == 201, created.text
    assert json.dumps(value["client_secret"]) not in created.text
    agent = httpx.post(
        team.url + "/team/agents",
        headers=team.admin_headers,
        json={"id": f"{name}-bot", "credentials": [name]},
    )
    assert agent.status_code == 201, agent.text
    key: str = agent.json()["api_key"]
    return key


@pytest.fixture
def auth() -> Iterator[FakeAuthorizationServer]:
    fake = FakeAuthorizationServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[ServedTeam]:
    with served_team(tmp_path, database_url) as team:
        yield team


@pytest.fixture
def oauth(served: ServedTeam, auth: FakeAuthorizationServer) -> OAuthTeam:
    return OAuthTeam(served, auth, add_oauth_credential(served, bundle(auth)))
