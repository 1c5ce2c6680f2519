"""A real ``tap-proxy`` with one verified owner, a credential and an agent, driven over HTTP.

For tests that walk the whole published API (the malformed-input table and
the fuzzer): they need a session for the admin side and a key for the agent
side, made the way a person would make them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.fake_resend import FakeResend
from tests.support.proxy import ProxyProcess, base_env, start_proxy

PASSWORD = "correct horse battery staple"
OWNER = "owner@example.com"
CREDENTIAL = "stripe"
AGENT = "bot"
# Log lines tap-proxy writes at error level or above (the format is set in app.logs).
ERROR_LINE = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) ", re.M)


@dataclass
class ServedTeam:
    proxy: ProxyProcess
    resend: FakeResend
    session: str
    agent_key: str

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session}"}

    @property
    def agent_headers(self) -> dict[str, str]:
        return {"X-TAP-Key": self.agent_key}

    def document(self) -> dict[str, Any]:
        """The published OpenAPI document."""
        body: dict[str, Any] = httpx.get(self.url + "/openapi.json").json()
        return body

    def error_lines(self) -> list[str]:
        """Every line tap-proxy logged at error level or above."""
        return [m.group(0) for m in ERROR_LINE.finditer(self.proxy.log())]


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


@contextmanager
def served_team(tmp: Path, database_url: str, **env: str) -> Iterator[ServedTeam]:
    """Start tap-proxy with email going to a fake Resend; sign up an owner; add a credential and an agent."""
    resend = FakeResend().start()
    proxy = start_proxy(
        tmp,
        base_env(
            tmp,
            database_url,
            RESEND_API_KEY="re_test_key",
            TAP_RESEND_API_URL=resend.url,
            RESEND_FROM_EMAIL="TAP <tap@example.test>",
            **env,
        ),
    )
    try:
        url = proxy.url
        _ok(
            httpx.post(
                url + "/signup", json={"team_name": "acme", "email": OWNER, "password": PASSWORD}
            ),
            201,
        )
        _ok(
            httpx.post(url + "/verify-email", json={"email": OWNER, "code": resend.code_for(OWNER)})
        )
        session = _ok(httpx.post(url + "/login", json={"email": OWNER, "password": PASSWORD}))[
            "session_token"
        ]
        headers = {"Authorization": f"Bearer {session}"}
        _ok(
            httpx.post(
                url + "/team/credentials",
                headers=headers,
                json={
                    "name": CREDENTIAL,
                    "allowed_hosts": ["api.stripe.com"],
                    "value": "sk_live_servedteam",
                },
            ),
            201,
        )
        agent = _ok(
            httpx.post(
                url + "/team/agents",
                headers=headers,
                json={"id": AGENT, "credentials": [CREDENTIAL]},
            ),
            201,
        )
        yield ServedTeam(proxy, resend, session, agent["api_key"])
    finally:
        proxy.stop()
        resend.stop()
