"""In a real browser: sign in with a new passkey, then approve a gated request from the approve page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import add_virtual_authenticator, screenshot
from tests.integration.passkeys.conftest import PASSWORD, SECRET, Client, poll_until_final
from tests.support.fake_resend import FakeResend
from tests.support.proxy import ProxyProcess, base_env, free_port, start_proxy
from tests.support.upstream import Upstream

pytestmark = pytest.mark.slow


@pytest.fixture
def proxy(tmp_path: Path, database_url: str, resend: FakeResend) -> Iterator[ProxyProcess]:
    # The browser sees TAP at http://localhost:PORT: a secure context, so WebAuthn runs.
    port = free_port()
    origin = f"http://localhost:{port}"
    env = base_env(
        tmp_path,
        database_url,
        RESEND_API_KEY="re_browser",
        TAP_RESEND_API_URL=resend.url,
        TAP_APPROVAL_TIMEOUT_SECS="300",
        WEBAUTHN_RP_ID="localhost",
        WEBAUTHN_RP_ORIGIN=origin,
        TAP_APP_URL=origin,
    )
    running = start_proxy(tmp_path, env, port=port)
    running.url = origin
    yield running
    running.stop()


def test_register_a_passkey_and_approve_from_the_page(
    page: Any, proxy: ProxyProcess, resend: FakeResend, upstream: Upstream
) -> None:
    api = Client(proxy.url)
    api.ok(
        "POST",
        "/signup",
        status=201,
        json={"team_name": "acme", "email": "ann@example.com", "password": PASSWORD},
    )
    api.ok(
        "POST",
        "/verify-email",
        json={"email": "ann@example.com", "code": resend.code_for("ann@example.com")},
    )
    add_virtual_authenticator(page)

    # Signed out: the page asks to sign in; signing in creates the first passkey, then uses it.
    response = page.goto(f"{proxy.url}/approve/txn/00000000-0000-4000-8000-000000000000")
    csp = response.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp
        and "frame-ancestors 'none'" in csp
    )
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    screenshot(page, "approve-sign-in")
    page.get_by_role("button", name="Sign in with passkey").click()
    page.get_by_text("This request expired or was already resolved.").wait_for(timeout=15_000)
    token = page.evaluate("sessionStorage.getItem('tap.session')")
    assert api.ok("GET", "/user/passkeys", token)["passkeys"], "the browser registered a passkey"

    # The owner sets up a credential whose writes need a passkey, and an agent parks a write.
    api.ok(
        "POST",
        "/team/credentials",
        token,
        status=201,
        json={
            "name": "demo",
            "allowed_hosts": ["127.0.0.1"],
            "value": SECRET,
            "auth_header_format": "Bearer {value}",
        },
    )
    api.ok(
        "PUT",
        "/team/policies/demo",
        token,
        json={"require_approval_methods": ["POST"], "require_passkey": True},
    )
    key = api.ok(
        "POST", "/team/agents", token, status=201, json={"id": "bot", "credentials": ["demo"]}
    )["api_key"]
    parked = httpx.post(
        proxy.url + "/forward",
        content=b'{"amount": 5}',
        headers={
            "X-TAP-Key": key,
            "X-TAP-Credential": "demo",
            "X-TAP-Target": upstream.url + "/v1/charges",
            "X-TAP-Method": "POST",
        },
        timeout=30,
    )
    assert parked.status_code == 202, parked.text

    # The approval link from the 202 opens the page; it shows the request; the passkey approves it.
    page.goto(parked.json()["approval_url"])
    page.get_by_text(f"POST {upstream.url}/v1/charges").wait_for(timeout=15_000)
    assert '"amount": 5' in page.locator("#body").inner_text()
    screenshot(page, "approve-request")
    page.get_by_role("button", name="Approve with passkey").click()
    page.get_by_text("Approved by ann@example.com.").wait_for(timeout=15_000)
    screenshot(page, "approve-done")

    polled = poll_until_final(proxy, key, parked.json()["txn_id"])
    assert polled["status"] == "forwarded", polled
    assert len(upstream.received) == 1
    evidence = api.ok("GET", f"/team/approvals/{parked.json()['txn_id']}/evidence", token)
    assert [e["approver"] for e in evidence["evidence"]] == ["ann@example.com"]
