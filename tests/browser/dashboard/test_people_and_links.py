"""Who sees what, in the browser: an approver sees only the credentials assigned to
them (and only their requests in the inbox); a denied request ends denied for the
agent and in the audit; the credential link an agent hands out opens a filled-in
form that can never carry a value; team A's session cannot read team B's pages;
and no other site can frame the dashboard."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from aiohttp import web

from tests.browser.conftest import add_virtual_authenticator
from tests.browser.dashboard.conftest import (
    WAIT_MS,
    Dash,
    credential,
    gated_agent,
    serious_violations,
    shoot,
)
from tests.integration.passkeys.conftest import PASSWORD, poll_until_final
from tests.support.upstream import Received, Upstream

pytestmark = pytest.mark.slow


def test_an_approver_sees_only_assigned_credentials(page: Any, dash: Dash) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    owner = dash.person("approvers", "owen@example.com")
    for name in ("billing", "payroll"):
        credential(dash, owner.token, name)
    key = gated_agent(dash, owner.token, "bot", ["billing", "payroll"])
    dash.api.ok(
        "POST",
        "/team/members/invite",
        owner.token,
        status=201,
        json={"email": "amy@example.com", "role": "approver"},
    )

    # Amy accepts the emailed invitation in the browser, then signs in with a new passkey.
    add_virtual_authenticator(page)
    page.goto(f"{dash.url}/dashboard?invite_token={dash.resend.link_token('amy@example.com')}")
    expect(page.get_by_text("You are invited to join approvers as approver")).to_be_visible()
    assert "invite_token" not in page.url
    assert serious_violations(page) == []
    shoot(page, "invite-accept")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account and join").click()
    expect(page.get_by_role("heading", name="Sign in to TAP")).to_be_visible()
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    amy = dash.api.ok("GET", "/user/me", page.evaluate("sessionStorage.getItem('tap.session')"))
    dash.api.ok(
        "POST",
        f"/team/members/{amy['id']}/credentials",
        owner.token,
        json={"credential_name": "billing"},
    )
    billing = dash.forward(key, "billing", dash.upstream.url + "/v1/invoices", "POST", b"{}")
    payroll = dash.forward(key, "payroll", dash.upstream.url + "/v1/salaries", "POST", b"{}")
    assert billing.status_code == payroll.status_code == 202

    inbox = page.get_by_role("article")
    expect(inbox).to_have_count(1)
    expect(inbox).to_contain_text("/v1/invoices")
    assert "/v1/salaries" not in page.content()
    assert serious_violations(page) == []
    shoot(page, "approver-inbox")
    # The navigation offers what an approver may do, and no more.
    nav = page.get_by_role("navigation", name="Dashboard")
    expect(nav.get_by_role("link")).to_have_text(
        ["Approvals", "Credentials", "Agents", "Members", "Security"]
    )
    nav.get_by_role("link", name="Credentials").click()
    expect(page.get_by_role("row", name="billing")).to_be_visible()
    assert "payroll" not in page.locator("main").inner_text()
    expect(page.get_by_role("button", name="Add a credential")).to_have_count(0)
    assert serious_violations(page) == []
    shoot(page, "approver-credentials")
    # A page the approver may not use sends them back to what they may.
    page.goto(dash.url + "/dashboard#/policies")
    expect(page.get_by_role("heading", name="Approvals")).to_be_visible()


def _wait_for_audit(dash: Dash, token: str, outcome: str) -> None:
    """Audit records are written in batches: wait until one with ``outcome`` is stored."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not dash.api.ok("GET", f"/team/audit?outcome={outcome}", token)["entries"]:
        assert time.monotonic() < deadline, f"no {outcome} audit record"
        time.sleep(0.1)


def test_a_denied_request_is_denied_everywhere(page: Any, dash: Dash) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    owner = dash.person("deniers", "dora@example.com")
    credential(dash, owner.token, "shop")
    key = gated_agent(dash, owner.token, "buyer", ["shop"])
    dash.open_as(page, owner.token, "approvals")
    expect(page.get_by_text("No requests are waiting.")).to_be_visible()
    received_before = len(dash.upstream.received)
    parked = dash.forward(key, "shop", dash.upstream.url + "/v1/orders", "POST", b'{"qty": 99}')
    assert parked.status_code == 202, parked.text
    card = page.get_by_role("article", name=f"POST {dash.upstream.url}/v1/orders")
    card.get_by_text("Body (11 bytes)").click()
    expect(card).to_contain_text('{"qty": 99}')
    card.get_by_role("button", name="Deny").click()
    expect(page.get_by_text("No requests are waiting.")).to_be_visible()
    polled = poll_until_final(dash.proxy, key, parked.json()["txn_id"])
    assert polled["status"] == "denied", polled
    assert len(dash.upstream.received) == received_before, "nothing reached the upstream"
    _wait_for_audit(dash, owner.token, "denied")
    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Outcome", exact=True).select_option("denied")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("row").filter(has_text="/v1/orders")).to_contain_text("denied")
    shoot(page, "audit-denied")


def test_the_credential_link_prefills_metadata_and_never_a_value(page: Any, dash: Dash) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    owner = dash.person("linkers", "lena@example.com")
    credential(dash, owner.token, "base")
    key = dash.api.ok(
        "POST",
        "/team/agents",
        owner.token,
        status=201,
        json={"id": "asker", "credentials": ["base"]},
    )["api_key"]
    link = dash.api.ok(
        "POST",
        "/agent/credential-link",
        headers={"X-TAP-Key": key},
        json={
            "name": "stripe",
            "description": "Stripe payments",
            "allowed_hosts": ["api.stripe.com"],
            "auth_header_format": "Bearer {value}",
        },
    )["create_url"]
    assert "prefill_credential=" in link

    # The link the agent handed out opens the add form, filled in, once signed in.
    page.goto(link)
    expect(page.get_by_role("heading", name="Sign in to TAP")).to_be_visible()
    assert "prefill_credential" not in page.url, "the blob left the address bar"
    page.evaluate("t => sessionStorage.setItem('tap.session', t)", owner.token)
    page.reload()
    form = page.get_by_role("form", name="Add a credential")
    expect(form.get_by_label("Name", exact=True)).to_have_value("stripe")
    expect(form.get_by_label("Description", exact=True)).to_have_value("Stripe payments")
    expect(form.get_by_label("Allowed hosts", exact=True)).to_have_value("api.stripe.com")
    expect(form.get_by_label("Secret value", exact=True)).to_have_value("")
    assert serious_violations(page) == []
    shoot(page, "credentials-prefill")

    # A hand-made link that smuggles a value (or anything else) fills in none of it.
    smuggled = {
        "name": "evil",
        "value": "attacker-known-secret",
        "api_key": "x",
        "allowed_hosts": ["evil.example"],
    }
    blob = base64.urlsafe_b64encode(json.dumps(smuggled).encode()).rstrip(b"=").decode()
    page.goto(f"{dash.url}/dashboard?prefill_credential={blob}#/credentials")
    form = page.get_by_role("form", name="Add a credential")
    expect(form.get_by_label("Name", exact=True)).to_have_value("evil")
    expect(form.get_by_label("Secret value", exact=True)).to_have_value("")
    assert "attacker-known-secret" not in page.content()


def test_team_a_cannot_read_team_b(page: Any, dash: Dash) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    alice = dash.person("team-a", "alice@example.com")
    bob = dash.person("team-b", "bob@example.com")
    credential(dash, bob.token, "b-secret-store")
    b_team = dash.api.ok("GET", "/user/me", bob.token)["team_id"]

    dash.open_as(page, alice.token, "credentials")
    expect(page.get_by_text("No credentials yet.")).to_be_visible()
    expect(page.get_by_role("combobox", name="Team").get_by_role("option")).to_have_count(1)
    # Whatever the page's script is made to ask, the API answers for team A only.
    answers = page.evaluate(
        """async (team) => {
            const auth = {Authorization: `Bearer ${sessionStorage.getItem('tap.session')}`, 'Content-Type': 'application/json'};
            const sw = await fetch('/session/team', {method: 'POST', headers: auth, body: JSON.stringify({team_id: team})});
            const creds = await (await fetch('/team/credentials', {headers: auth})).json();
            const policy = await fetch('/team/policies/b-secret-store', {headers: auth});
            return [sw.status, creds.credentials.map((c) => c.name), policy.status];
        }""",
        b_team,
    )
    assert answers == [403, [], 404]
    page.reload()
    expect(page.get_by_text("No credentials yet.")).to_be_visible()


def test_another_site_cannot_frame_the_dashboard(page: Any, dash: Dash) -> None:
    def framing(received: Received) -> web.Response:
        del received
        html = f'<!doctype html><title>evil</title><iframe src="{dash.url}/dashboard" title="x"></iframe>'
        return web.Response(text=html, content_type="text/html")

    evil = Upstream(handler=framing).start()
    try:
        with page.expect_console_message(
            lambda m: "frame-ancestors 'none'" in m.text, timeout=WAIT_MS
        ) as refused:
            page.goto(evil.url + "/")
        assert "has been blocked" in refused.value.text
        (child,) = page.main_frame.child_frames
        assert "/dashboard" not in child.url, child.url
    finally:
        evil.stop()


def test_a_member_of_two_teams_joins_and_switches(page: Any, dash: Dash) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    carol = dash.person("team-c", "carol@example.com")
    dave = dash.person("team-d", "dave@example.com")
    credential(dash, dave.token, "d-only")
    dash.api.ok(
        "POST",
        "/team/members/invite",
        dave.token,
        status=201,
        json={"email": "carol@example.com", "role": "admin"},
    )

    # Carol already has an account: she joins from Members, explicitly.
    dash.open_as(page, carol.token, "members")
    page.get_by_role("button", name="Join team-d").click()
    expect(page.get_by_text("You joined team-d.")).to_be_visible()
    switcher = page.get_by_role("combobox", name="Team")
    expect(switcher.get_by_role("option")).to_have_count(2)
    shoot(page, "members-joined")

    # Switching the team changes what every page shows.
    switcher.select_option(label="team-d (admin)")
    expect(page.get_by_text("Switched to team-d.")).to_be_visible()
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Credentials").click()
    expect(page.get_by_role("row", name="d-only")).to_be_visible()
    switcher.select_option(label="team-c (owner)")
    expect(page.get_by_text("Switched to team-c.")).to_be_visible()
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Credentials").click()
    expect(page.get_by_text("No credentials yet.")).to_be_visible()
