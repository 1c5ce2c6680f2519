"""The README's quick start, entirely in the browser: sign up, verify, add a credential,
create an agent, set a policy and check it with the tester, approve the agent's
gated write from the inbox (it appears without a reload), see it in the audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import add_virtual_authenticator
from tests.browser.dashboard.conftest import WAIT_MS, Dash, key_from, serious_violations, shoot
from tests.integration.passkeys.conftest import PASSWORD, poll_until_final

pytestmark = pytest.mark.slow

SECRET = "sk_live_dashboard_0123456789"


def expect_ok(page: Any, name: str) -> None:
    """No serious accessibility finding, and a photo for reviewers."""
    assert serious_violations(page) == [], name
    shoot(page, name)


def test_a_new_user_does_the_quick_start_in_the_browser(page: Any, dash: Dash) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    add_virtual_authenticator(page)

    # A browser at / lands on the dashboard, signed out: the sign-in form, not an error.
    response = page.goto(dash.url + "/")
    assert response.url.endswith("/dashboard")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    expect(page.get_by_role("heading", name="Sign in to TAP")).to_be_visible()
    expect_ok(page, "sign-in")

    # Sign up, read the code from the mailbox, verify.
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Team name", exact=True).fill("acme")
    page.get_by_label("Email", exact=True).fill("ann@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    expect_ok(page, "sign-up")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Verify your email")).to_be_visible()
    expect(page.get_by_label("Email", exact=True)).to_have_value("ann@example.com")
    page.get_by_label("Code", exact=True).fill(dash.resend.code_for("ann@example.com"))
    expect_ok(page, "verify")
    page.get_by_role("button", name="Verify").click()

    # Sign in: the first sign-in creates a passkey on this device, then uses it.
    expect(page.get_by_role("heading", name="Sign in to TAP")).to_be_visible()
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    expect(page.get_by_text("No requests are waiting.")).to_be_visible()
    expect_ok(page, "approvals-empty")

    # Add a credential: the value field is hidden, and only its hint comes back.
    page.get_by_role("link", name="Credentials").click()
    expect(page.get_by_text("No credentials yet.")).to_be_visible()
    page.get_by_role("button", name="Add a credential").click()
    page.get_by_label("Name", exact=True).fill("demo")
    page.get_by_label("Description", exact=True).fill("Payments API")
    page.get_by_label("Allowed hosts", exact=True).fill("127.0.0.1")
    value = page.get_by_label("Secret value", exact=True)
    assert value.get_attribute("type") == "password"
    value.fill(SECRET)
    expect_ok(page, "credentials-add")
    page.get_by_role("button", name="Add credential").click()
    row = page.get_by_role("row", name="demo")
    expect(row).to_contain_text("Payments API")
    assert SECRET not in page.content()
    expect_ok(page, "credentials")

    # Create an agent; its key is shown once, with a copy button and instructions.
    page.get_by_role("link", name="Agents").click()
    page.get_by_role("button", name="Create an agent").click()
    page.get_by_label("Agent name", exact=True).fill("bot")
    page.get_by_role("checkbox", name="demo").check()
    page.get_by_role("button", name="Create agent").click()
    panel = page.get_by_role("region", name="Key for bot")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("button", name="Copy key")).to_be_visible()
    key = key_from(panel.locator(".api-key").inner_text())
    expect_ok(page, "agents-key-once")
    panel.get_by_role("button", name="I stored the key").click()
    expect(page.get_by_role("region", name="Key for bot")).to_have_count(0)
    assert key not in page.content(), "the key is not shown again"
    expect_ok(page, "agents")

    # Writes wait for a human; the tester says so, and which rule decided.
    page.get_by_role("link", name="Policies").click()
    page.get_by_role("group", name="Methods that wait for a human").get_by_role(
        "checkbox", name="POST"
    ).check()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Saved the policy of demo.")).to_be_visible()
    tester = page.get_by_role("form", name="Policy tester")
    tester.get_by_label("Method", exact=True).select_option("POST")
    tester.get_by_label("URL", exact=True).fill(dash.upstream.url + "/v1/charges")
    tester.get_by_role("button", name="Test").click()
    expect(tester.locator(".outcome")).to_have_text("Waits for a human")
    expect(tester).to_contain_text("require-approval methods")
    expect_ok(page, "policies-tester")
    tester.get_by_label("Method", exact=True).select_option("GET")
    tester.get_by_role("button", name="Test").click()
    expect(tester.locator(".outcome")).to_have_text("Runs at once")

    # The agent's gated write appears in the open inbox without a reload.
    page.get_by_role("link", name="Approvals").click()
    expect(page.get_by_text("No requests are waiting.")).to_be_visible()
    parked = dash.forward(key, "demo", dash.upstream.url + "/v1/charges", "POST", b'{"amount": 5}')
    assert parked.status_code == 202, parked.text
    card = page.get_by_role("article", name=f"POST {dash.upstream.url}/v1/charges")
    expect(card).to_be_visible()
    expect(card).to_contain_text("bot")
    expect(card).to_contain_text("0 of 1 approval")
    expect_ok(page, "approvals-waiting")
    card.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("No requests are waiting.")).to_be_visible()
    polled = poll_until_final(dash.proxy, key, parked.json()["txn_id"])
    assert polled["status"] == "forwarded", polled
    assert [r.path for r in dash.upstream.received] == ["/v1/charges"]
    assert dash.upstream.received[0].headers["Authorization"] == f"Bearer {SECRET}"

    # The audit page shows it forwarded, with who approved it.
    page.get_by_role("link", name="Audit").click()
    forwarded = page.get_by_role("row").filter(has_text="forwarded")
    expect(forwarded.first).to_contain_text("ann@example.com")
    expect_ok(page, "audit")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    exported = Path(download.value.path()).read_text()
    assert exported.startswith("timestamp,request_id,agent_id") and "/v1/charges" in exported

    # A write that needs a passkey: the inbox links to the approve page, which signs it.
    page.get_by_role("link", name="Policies").click()
    page.get_by_label("Approving needs a passkey").check()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Saved the policy of demo.")).to_be_visible()
    page.get_by_role("link", name="Approvals").click()
    parked = dash.forward(key, "demo", dash.upstream.url + "/v1/refunds", "POST", b'{"amount": 7}')
    assert parked.status_code == 202, parked.text
    card = page.get_by_role("article", name=f"POST {dash.upstream.url}/v1/refunds")
    expect(card).to_contain_text("passkey required")
    card.get_by_role("link", name="Approve with passkey").click()
    expect(page.get_by_text(f"POST {dash.upstream.url}/v1/refunds")).to_be_visible()
    page.get_by_role("button", name="Approve with passkey").click()
    expect(page.get_by_text("Approved by ann@example.com.")).to_be_visible()
    page.get_by_role("link", name="Back to the approvals inbox").click()
    expect(page.get_by_text("No requests are waiting.")).to_be_visible()
    polled = poll_until_final(dash.proxy, key, parked.json()["txn_id"])
    assert polled["status"] == "forwarded", polled
    assert httpx.get(dash.url + "/dashboard").headers["x-frame-options"] == "DENY"
