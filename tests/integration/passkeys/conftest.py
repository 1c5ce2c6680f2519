"""A real tap-proxy with passkeys on, a fake mailbox, a recording upstream, and people with passkeys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.authenticator import SoftAuthenticator
from tests.support.fake_resend import FakeResend
from tests.support.http_client import Client as HttpClient
from tests.support.proxy import ProxyProcess, base_env, start_proxy

PASSWORD = "correct horse battery staple"
SECRET = "sk_live_passkey_0123456789"
ORIGIN = "https://tap.example.test"


@dataclass
class Person:
    email: str
    token: str
    user_id: str
    authenticator: SoftAuthenticator


class Client(HttpClient):
    """The HTTP client, plus people who sign in with passkeys."""

    # People -------------------------------------------------------------------------

    def enrol(self, setup_token: str, authenticator: SoftAuthenticator) -> None:
        options = self.ok("POST", "/setup-passkey/begin", json={"passkey_setup_token": setup_token})
        created = authenticator.create(options["challenge"])
        self.ok(
            "POST",
            "/setup-passkey/finish",
            status=201,
            json={"passkey_setup_token": setup_token, "credential": created},
        )

    def sign_in(self, email: str, authenticator: SoftAuthenticator) -> dict[str, Any]:
        step = self.ok("POST", "/login", json={"email": email, "password": PASSWORD})
        assert step["requires_passkey"] is True and "session_token" not in step
        assertion = authenticator.get(step["challenge"])
        return self.ok(  # type: ignore[no-any-return]
            "POST",
            "/login/passkey",
            json={"passkey_token": step["passkey_token"], "credential": assertion},
        )

    def signup(self, resend: FakeResend, team: str, email: str) -> Person:
        self.ok(
            "POST",
            "/signup",
            status=201,
            json={"team_name": team, "email": email, "password": PASSWORD},
        )
        verified = self.ok(
            "POST", "/verify-email", json={"email": email, "code": resend.code_for(email)}
        )
        authenticator = SoftAuthenticator(origin=ORIGIN)
        self.enrol(verified["passkey_setup_token"], authenticator)
        session = self.sign_in(email, authenticator)
        return Person(email, session["session_token"], session["user_id"], authenticator)


def passkey_env(tmp: Path, database_url: str, resend: FakeResend) -> dict[str, str]:
    return base_env(
        tmp,
        database_url,
        RESEND_API_KEY="re_passkeys",
        TAP_RESEND_API_URL=resend.url,
        TAP_APPROVAL_TIMEOUT_SECS="120",
        WEBAUTHN_RP_ID="tap.example.test",
        WEBAUTHN_RP_ORIGIN=ORIGIN,
        WEBAUTHN_ADDITIONAL_ORIGINS="https://approve.example.test",
        TAP_APP_URL=ORIGIN,
    )


@pytest.fixture
def proxy(tmp_path: Path, database_url: str, resend: FakeResend) -> Iterator[ProxyProcess]:
    running = start_proxy(tmp_path, passkey_env(tmp_path, database_url, resend))
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture
def api(proxy: ProxyProcess) -> Client:
    return Client(proxy.url)


def poll_until_final(
    proxy: ProxyProcess, key: str, txn: str, timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        polled: dict[str, Any] = httpx.get(
            proxy.url + f"/agent/approvals/{txn}", headers={"X-TAP-Key": key}, timeout=10
        ).json()
        if polled["status"] not in ("pending", "approved") or time.monotonic() > deadline:
            return polled
        time.sleep(0.1)
