"""Every dashboard page in a real browser, as an owner with data to show: it works from
the keyboard and mouse, has no serious accessibility finding, breaks no CSP rule,
and is photographed at desktop and phone widths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import add_virtual_authenticator
from tests.browser.dashboard.conftest import WAIT_MS, Dash, serious_violations, shoot

pytestmark = pytest.mark.slow


@pytest.fixture
def watched(page: Any) -> Iterator[tuple[Any, list[str]]]:
    """The page, and every CSP violation or script error the browser reports on it."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    yield page, problems


def check(page: Any, problems: list[str], name: str) -> None:
    assert serious_violations(page) == [], name
    assert [p for p in problems if "Content Security Policy" in p or "Error" in p] == [], name
    shoot(page, name)


def test_every_signed_in_page(watched: tuple[Any, list[str]], dash: Dash) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    page, problems = watched
    owner = dash.person("pages", "olga@example.com")
    api = dash.api
    api.ok(
        "POST",
        "/team/credentials",
        owner.token,
        status=201,
        json={
            "name": "github",
            "description": "GitHub",
            "allowed_hosts": ["api.github.com"],
            "value": "ghp_0123456789abcdef",
        },
    )
    api.ok(
        "POST",
        "/team/agents",
        owner.token,
        status=201,
        json={"id": "helper", "credentials": ["github"]},
    )
    add_virtual_authenticator(page)
    dash.open_as(page, owner.token, "approvals")
    expect(page.get_by_role("heading", name="Approvals")).to_be_visible()

    # Credentials: edit metadata, replace the value (only the hint changes), confirm before delete.
    page.get_by_role("link", name="Credentials").click()
    page.get_by_role("button", name="Edit github").click()
    page.get_by_label("Description", exact=True).fill("GitHub, org account")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("row", name="github")).to_contain_text("GitHub, org account")
    hint_before = page.get_by_role("row", name="github").locator("code").inner_text()
    page.get_by_role("button", name="Replace the value of github").click()
    page.get_by_label("New value", exact=True).fill("ghp_fresh_value_9876543210")
    check(page, problems, "credentials-replace-value")
    page.get_by_role("button", name="Replace value").click()
    expect(page.get_by_role("row", name="github").locator("code")).not_to_have_text(hint_before)
    assert "ghp_fresh_value_9876543210" not in page.content()
    page.get_by_role("button", name="Delete github").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("row", name="github")).to_be_visible()

    # Roles: create, then change its credentials (PUT /team/roles/{name}).
    page.get_by_role("link", name="Roles").click()
    expect(page.get_by_text("No roles yet.")).to_be_visible()
    page.get_by_role("button", name="Create a role").click()
    page.get_by_label("Role name", exact=True).fill("readers")
    check(page, problems, "roles-create")
    page.get_by_role("button", name="Create role").click()
    page.get_by_role("button", name="Edit role readers").click()
    page.get_by_role("checkbox", name="github").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("row", name="readers")).to_contain_text("github")
    check(page, problems, "roles")

    # Agents: edit grants and limit (PUT /team/agents/{id}), disable, confirm before delete.
    page.get_by_role("link", name="Agents").click()
    page.get_by_role("button", name="Edit helper").click()
    page.get_by_role("checkbox", name="readers").check()
    page.get_by_label("Rate limit per hour", exact=True).fill("30")
    page.get_by_role("button", name="Save changes").click()
    row = page.get_by_role("row", name="helper")
    expect(row).to_contain_text("30/h")
    expect(row).to_contain_text("readers")
    row.get_by_role("button", name="Rotate the key of helper").click()
    page.get_by_role("dialog").get_by_role("button", name="Rotate key").click()
    rotated = page.get_by_role("region", name="Key for helper")
    expect(rotated).to_contain_text("tap_")
    rotated.get_by_role("button", name="I stored the key").click()
    row.get_by_role("button", name="Disable helper").click()
    expect(row).to_contain_text("disabled")
    row.get_by_role("button", name="Delete helper").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete helper?")
    check(page, problems, "agents-confirm-delete")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("row", name="helper")).to_be_visible()

    # Policies: a field error appears next to the field it belongs to.
    page.get_by_role("link", name="Policies").click()
    page.get_by_label("URLs that run at once", exact=True).fill("https://api.example.com/v1")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator("[data-field=auto_approve_urls] .field-error")).to_be_visible()
    check(page, problems, "policies-field-error")

    # Members: invite someone; the invitation waits.
    page.get_by_role("link", name="Members").click()
    form = page.get_by_role("form", name="Invite a member")
    form.get_by_label("Email", exact=True).fill("newbie@example.com")
    form.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("region", name="Pending invitations")).to_contain_text(
        "newbie@example.com"
    )
    check(page, problems, "members")

    # Channels: add one.
    page.get_by_role("link", name="Channels").click()
    expect(page.get_by_text("No channels yet")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("inbox")
    page.get_by_role("button", name="Add channel").click()
    expect(page.get_by_role("row", name="inbox")).to_contain_text("dashboard")
    check(page, problems, "channels")

    # Settings: the team's mode.
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Default for credentials without a policy").select_option("gated")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The team is now gated.")).to_be_visible()
    check(page, problems, "settings")
    assert api.ok("GET", "/team", owner.token)["default_approval_mode"] == "gated"

    # Security: add a passkey on this device.
    page.get_by_role("link", name="Security").click()
    expect(page.get_by_role("row")).to_have_count(2)  # the header and the signup passkey
    page.get_by_role("button", name="Add a passkey on this device").click()
    expect(page.get_by_text("Passkey added.")).to_be_visible()
    expect(page.get_by_role("row")).to_have_count(3)
    check(page, problems, "security")

    # Keyboard: the skip link leads to the content, the navigation is reachable by Tab.
    page.reload()
    expect(page.get_by_role("heading", name="Security")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    expect(page.get_by_role("heading", name="Security")).to_be_visible()

    # Signing out ends the session; the dashboard shows sign-in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to TAP")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('tap.session')") is None
    assert api.call("GET", "/user/me", owner.token).status_code == 401


def test_signed_out_pages(watched: tuple[Any, list[str]], dash: Dash) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    page, problems = watched
    page.goto(dash.url + "/dashboard#/forgot")
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    check(page, problems, "forgot")
    person = dash.person("resetters", "rita@example.com")
    page.get_by_label("Email", exact=True).fill(person.email)
    page.get_by_role("button", name="Email me a reset code").click()
    expect(page.get_by_role("heading", name="Set a new password")).to_be_visible()
    expect(page.get_by_label("Email", exact=True)).to_have_value(person.email)
    page.get_by_label("Code", exact=True).fill(dash.resend.code_for(person.email))
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    check(page, problems, "reset")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_text("Password changed. Sign in with the new one.")).to_be_visible()
    step = dash.api.ok(
        "POST", "/login", json={"email": person.email, "password": "a brand new passphrase"}
    )
    assert step["requires_passkey"] is True
    # A bad sign-in says so, next to the form.
    page.goto(dash.url + "/dashboard#/signin")
    page.get_by_label("Email", exact=True).fill("nobody@example.com")
    page.get_by_label("Password", exact=True).fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid email or password")
    check(page, problems, "sign-in-error")
