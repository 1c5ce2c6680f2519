"""Local mode (DANGEROUS_TAP_DEV_SKIP_AUTH): /dev/auto-login opens the dashboard signed in,
under the same strict policy, and leaves no session behind in localStorage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.dashboard.conftest import WAIT_MS
from tests.integration.passkeys.conftest import PASSWORD
from tests.support.fake_resend import FakeResend
from tests.support.http_client import Client
from tests.support.proxy import ProxyProcess, base_env, start_proxy

pytestmark = pytest.mark.slow


@pytest.fixture
def local(tmp_path: Path, database_url: str, resend: FakeResend) -> Iterator[ProxyProcess]:
    env = base_env(
        tmp_path,
        database_url,
        DANGEROUS_TAP_DEV_SKIP_AUTH="true",
        RESEND_API_KEY="re_local",
        TAP_RESEND_API_URL=resend.url,
    )
    running = start_proxy(tmp_path, env)
    yield running
    running.stop()


def test_dev_auto_login_opens_the_dashboard_signed_in(
    page: Any, local: ProxyProcess, resend: FakeResend
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    api = Client(local.url)
    api.ok(
        "POST",
        "/signup",
        status=201,
        json={"team_name": "laptop", "email": "dev@example.com", "password": PASSWORD},
    )
    api.ok(
        "POST",
        "/verify-email",
        json={"email": "dev@example.com", "code": resend.code_for("dev@example.com")},
    )
    response = page.goto(local.url + "/dev/auto-login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    expect(page.get_by_text("dev@example.com · owner")).to_be_visible()
    assert page.url.endswith("/dashboard") or "/dashboard#" in page.url
    assert page.evaluate("localStorage.length") == 0
