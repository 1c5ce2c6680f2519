"""One real tap-proxy (passkeys on, at http://localhost:PORT) per module for the dashboard's browser tests.

People are made over the API with a software passkey; a test either signs
up in the browser itself (the first-run story) or opens the dashboard as a
person by putting that person's session where the dashboard keeps it.
Every page a test visits can be checked with axe-core and photographed at
desktop and phone widths into ``build/screenshots/dashboard/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.integration.passkeys.conftest import PASSWORD, Client, Person
from tests.support.authenticator import SoftAuthenticator
from tests.support.fake_resend import FakeResend
from tests.support.postgres import create_database
from tests.support.proxy import ProxyProcess, base_env, free_port, start_proxy
from tests.support.upstream import Upstream

DASHBOARD_SHOTS = SCREENSHOTS / "dashboard"
#: Generous: the machines that run this are shared and often loaded.
WAIT_MS = 20_000
SESSION_KEY = "tap.session"


@dataclass
class Dash:
    """The running TAP, its mailbox and upstream, and helpers to act as people."""

    proxy: ProxyProcess
    resend: FakeResend
    upstream: Upstream
    api: Client
    people: dict[str, Person] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.proxy.url

    def person(self, team: str, email: str) -> Person:
        """A verified owner of a new team, with a passkey, signed in (API only)."""
        authenticator = SoftAuthenticator(origin=self.url)
        self.api.ok(
            "POST",
            "/signup",
            status=201,
            json={"team_name": team, "email": email, "password": PASSWORD},
        )
        verified = self.api.ok(
            "POST", "/verify-email", json={"email": email, "code": self.resend.code_for(email)}
        )
        self.api.enrol(verified["passkey_setup_token"], authenticator)
        session = self.api.sign_in(email, authenticator)
        person = Person(email, session["session_token"], session["user_id"], authenticator)
        self.people[email] = person
        return person

    def open_as(self, page: Any, token: str, route: str = "approvals") -> None:
        """Open the dashboard in ``page`` signed in with ``token``."""
        page.goto(f"{self.url}/dashboard")
        page.evaluate("([key, token]) => sessionStorage.setItem(key, token)", [SESSION_KEY, token])
        page.goto(f"{self.url}/dashboard#/{route}")
        page.reload()

    def forward(
        self, key: str, credential: str, target: str, method: str, body: bytes = b""
    ) -> httpx.Response:
        return httpx.post(
            self.url + "/forward",
            content=body,
            headers={
                "X-TAP-Key": key,
                "X-TAP-Credential": credential,
                "X-TAP-Target": target,
                "X-TAP-Method": method,
            },
            timeout=30,
        )


@contextmanager
def serve_dash(tmp: Path, pg_cluster: object, **extra_env: str) -> Iterator[Dash]:
    """A TAP with passkeys on at http://localhost:PORT, plus ``extra_env`` (channels, push)."""
    resend = FakeResend().start()
    upstream = Upstream().start()
    port = free_port()
    origin = f"http://localhost:{port}"
    env = base_env(
        tmp,
        create_database(pg_cluster),
        RESEND_API_KEY="re_dashboard",
        TAP_RESEND_API_URL=resend.url,
        TAP_APPROVAL_TIMEOUT_SECS="600",
        WEBAUTHN_RP_ID="localhost",
        WEBAUTHN_RP_ORIGIN=origin,
        TAP_APP_URL=origin,
        **extra_env,
    )
    running = start_proxy(tmp, env, port=port)
    running.url = origin
    try:
        yield Dash(running, resend, upstream, Client(origin))
    finally:
        running.stop()
        upstream.stop()
        resend.stop()


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory, pg_cluster: object) -> Iterator[Dash]:
    with serve_dash(tmp_path_factory.mktemp("dashboard"), pg_cluster) as served:
        yield served


def credential(dash: Dash, token: str, name: str) -> None:
    """A credential for the loopback upstream, its value sent as a bearer token."""
    dash.api.ok(
        "POST",
        "/team/credentials",
        token,
        status=201,
        json={
            "name": name,
            "description": f"{name} api",
            "allowed_hosts": ["127.0.0.1"],
            "value": f"{name}-secret-0123456789",
            "auth_header_format": "Bearer {value}",
        },
    )


def gated_agent(dash: Dash, token: str, agent: str, credentials: list[str]) -> str:
    """An agent whose POSTs with ``credentials`` wait for a human; returns its key."""
    for name in credentials:
        dash.api.ok(
            "PUT", f"/team/policies/{name}", token, json={"require_approval_methods": ["POST"]}
        )
    created = dash.api.ok(
        "POST", "/team/agents", token, status=201, json={"id": agent, "credentials": credentials}
    )
    return str(created["api_key"])


def shoot(page: Any, name: str) -> None:
    """The page at desktop and phone widths (and the phone in dark mode), for reviewers."""
    DASHBOARD_SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width, scheme in (
        ("desktop", 1280, "light"),
        ("phone", 390, "light"),
        ("phone-dark", 390, "dark"),
    ):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": width, "height": 844})
        page.screenshot(path=str(DASHBOARD_SHOTS / f"{name}-{label}.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 844})


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, in light and dark mode."""
    from axe_playwright_python.sync_playwright import Axe

    found = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        results = Axe().run(page)
        found += [
            f"{scheme}: {v['id']} ({v['impact']}): {v['help']} at "
            f"{[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
    page.emulate_media(color_scheme="light")
    return found


def key_from(text: str) -> str:
    match = re.search(r"tap_[A-Za-z0-9_-]+", text)
    assert match, text
    return match.group(0)
