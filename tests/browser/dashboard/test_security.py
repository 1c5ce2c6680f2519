"""The Security page's push notifications and chat accounts, in a real browser against a real TAP.

Chromium here cannot reach a push service, so the page gets a stand-in
subscription (``PushManager.subscribe``/``getSubscription`` replaced before
any script runs) whose endpoint is the loopback fake push service and whose
keys the test holds: the fake decrypts what TAP sends with them, so the whole
path from the "Turn on" button to an encrypted, VAPID-signed notification is
checked. Chat linking runs against the fake Telegram in long-poll mode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.dashboard.conftest import (
    WAIT_MS,
    Dash,
    credential,
    gated_agent,
    serious_violations,
    serve_dash,
    shoot,
)
from tests.support.fake_push import FakePushService, unb64url, vapid_keys
from tests.support.fake_telegram import FakeTelegram, private_text
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

MARKUP = "<img src=x onerror=window.__pwned=1>"

#: Replaces the browser's push subscription with one the test holds the keys of.
STUB_PUSH = """
(() => {
  if (typeof PushManager === "undefined") return;
  const HELD = "test.push-subscription";
  const stub = %s;
  const made = (held) => ({
    endpoint: held.endpoint,
    options: { userVisibleOnly: true, applicationServerKey: null },
    toJSON: () => ({ endpoint: held.endpoint, expirationTime: null,
                     keys: { p256dh: held.p256dh, auth: held.auth } }),
    unsubscribe: async () => { localStorage.removeItem(HELD); return true; },
  });
  PushManager.prototype.subscribe = async function (options) {
    if (options.userVisibleOnly !== true) throw new DOMException("userVisibleOnly", "NotAllowedError");
    const key = Array.from(new Uint8Array(options.applicationServerKey));
    localStorage.setItem(HELD, JSON.stringify({ ...stub, key }));
    return made(stub);
  };
  PushManager.prototype.getSubscription = async function () {
    const held = localStorage.getItem(HELD);
    return held ? made(JSON.parse(held)) : null;
  };
})();
"""


@pytest.fixture(scope="module")
def push_service() -> Iterator[FakePushService]:
    private, public = vapid_keys()
    service = FakePushService(public, vapid_private_key=private).start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def chat_dash(
    tmp_path_factory: pytest.TempPathFactory,
    pg_cluster: object,
    push_service: FakePushService,
    telegram: FakeTelegram,
) -> Iterator[Dash]:
    """A TAP with web push (the fake push service) and Telegram (long-polling the fake)."""
    with serve_dash(
        tmp_path_factory.mktemp("security"),
        pg_cluster,
        TAP_VAPID_PRIVATE_KEY=push_service.vapid_private_key,
        TAP_VAPID_PUBLIC_KEY=push_service.vapid_public_key,
        TAP_VAPID_SUBJECT="mailto:ops@example.com",
        **telegram.env(),
    ) as served:
        yield served


@pytest.fixture
def errors(page: Any) -> list[str]:
    """Script errors and CSP violations the browser reports on the page (not refused calls)."""
    found: list[str] = []
    page.on(
        "console",
        lambda m: (
            found.append(m.text)
            if m.type == "error" and ("Content Security Policy" in m.text or "Error" in m.text)
            else None
        ),
    )
    page.on("pageerror", lambda e: found.append(str(e)))
    return found


def _identities(dash: Dash, token: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dash.api.ok("GET", "/user/identities", token)["identities"]
    return found


def _park(dash: Dash, key: str) -> str:
    parked = dash.forward(key, "shop", dash.upstream.url + "/pay", "POST", b'{"amount": 5}')
    assert parked.status_code == 202, parked.text
    txn: str = parked.json()["txn_id"]
    return txn


def test_push_turns_on_notifies_encrypted_and_turns_off(
    page: Any, errors: list[str], chat_dash: Dash, push_service: FakePushService
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    owner = chat_dash.person("pushers", "pia@example.com")
    credential(chat_dash, owner.token, "shop")
    key = gated_agent(chat_dash, owner.token, "buyer", ["shop"])
    # A second device of the same person, subscribed over the API: it shows when TAP has sent.
    witness = push_service.browser("pia-phone")
    chat_dash.api.ok("POST", "/push/subscribe", owner.token, json=witness.subscription())
    laptop = push_service.browser("pia-laptop")
    page.add_init_script(STUB_PUSH % json.dumps(laptop.subscription()))
    page.context.grant_permissions(["notifications"], origin=chat_dash.url)

    chat_dash.open_as(page, owner.token, "security")
    card = page.get_by_role("region", name="Push notifications on this device")
    expect(card.get_by_role("status")).to_have_text("Off: this browser gets no notifications.")
    card.get_by_role("button", name="Turn on").click()
    expect(card.get_by_role("status")).to_contain_text("On:")
    expect(card.get_by_role("button", name="Turn off")).to_be_visible()
    held = json.loads(page.evaluate("localStorage.getItem('test.push-subscription')"))
    assert bytes(held["key"]) == unb64url(push_service.vapid_public_key)
    # The page registered the worker TAP serves, for the whole origin.
    scope = page.evaluate(
        "navigator.serviceWorker.getRegistration('/').then(r => r && r.active && r.scope)"
    )
    assert scope == chat_dash.url + "/"
    assert serious_violations(page) == []
    shoot(page, "security-push-on")

    txn = _park(chat_dash, key)
    (delivered,) = wait_for(
        lambda: push_service.to("pia-laptop"), lambda got: len(got) == 1, timeout=20
    )
    assert push_service.rejected == []
    assert delivered.payload["txn_id"] == txn
    assert delivered.payload["url"] == f"/approve/txn/{txn}"

    # The state survives a reload; turning off tells TAP, and the next request reaches only the phone.
    page.reload()
    card.get_by_role("button", name="Turn off").click()
    expect(card.get_by_role("status")).to_have_text("Off: this browser gets no notifications.")
    assert page.evaluate("localStorage.getItem('test.push-subscription')") is None
    _park(chat_dash, key)
    wait_for(lambda: push_service.to("pia-phone"), lambda got: len(got) == 2, timeout=20)
    assert len(push_service.to("pia-laptop")) == 1
    assert errors == []


def test_a_chat_account_links_shows_as_text_and_unlinks(
    page: Any, errors: list[str], chat_dash: Dash, telegram: FakeTelegram
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    owner = chat_dash.person("linkers", "lin@example.com")
    chat_dash.open_as(page, owner.token, "security")
    card = page.get_by_role("region", name="Chat accounts", exact=True)
    expect(card).to_contain_text("No chat accounts linked yet.")
    card.get_by_role("button", name="Link a Telegram account").click()
    panel = card.get_by_role("region", name="Link code for Telegram")
    expect(panel).to_contain_text("send /start")
    code = panel.locator("code").inner_text()
    deep = panel.get_by_role("link", name="Open @tap_test_bot")
    assert deep.get_attribute("href") == f"https://t.me/tap_test_bot?start={code}"
    assert deep.get_attribute("rel") == "noopener noreferrer"
    assert serious_violations(page) == []
    shoot(page, "security-link-code")

    # A username with markup, sent from the chat, shows as text once the code arrives.
    telegram.push_update(private_text(7001, f"/start {code}", username=MARKUP))
    row = card.get_by_role("row", name=f"@{MARKUP}")
    expect(row).to_be_visible()
    expect(panel).to_have_count(0)
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.__pwned === undefined")
    (linked,) = _identities(chat_dash, owner.token)
    assert linked["external_id"] == "7001"
    assert serious_violations(page) == []
    shoot(page, "security-linked")

    # Unlinking asks first; cancelling keeps it.
    row.get_by_role("button", name=f"Unlink Telegram account @{MARKUP} (7001)").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(row).to_be_visible()
    row.get_by_role("button", name=f"Unlink Telegram account @{MARKUP} (7001)").click()
    page.get_by_role("dialog").get_by_role("button", name="Unlink").click()
    expect(card).to_contain_text("No chat accounts linked yet.")
    assert _identities(chat_dash, owner.token) == []
    assert errors == []


def test_another_members_identity_cannot_be_unlinked_from_the_page(
    page: Any, chat_dash: Dash, telegram: FakeTelegram
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    victim = chat_dash.person("victims", "vic@example.com")
    issued = chat_dash.api.ok("POST", "/user/identities/telegram", victim.token)
    telegram.push_update(private_text(7002, f"/start {issued['code']}", username="vic"))
    (theirs,) = wait_for(lambda: _identities(chat_dash, victim.token), lambda got: len(got) == 1)
    mallory = chat_dash.person("attackers", "mal@example.com")

    # The page is shown the victim's identity id as if it were Mallory's own.
    def tampered(route: Any) -> None:
        reply = route.fetch()
        body = reply.json()
        body["identities"].append(theirs)
        route.fulfill(response=reply, json=body)

    page.route("**/user/identities", tampered)
    chat_dash.open_as(page, mallory.token, "security")
    card = page.get_by_role("region", name="Chat accounts", exact=True)
    card.get_by_role("button", name="Unlink Telegram account @vic (7002)").click()
    page.get_by_role("dialog").get_by_role("button", name="Unlink").click()
    expect(card.get_by_role("alert")).to_have_text("no such linked identity")
    assert _identities(chat_dash, victim.token) == [theirs]
    # The page reloads its list after the refusal: let a tampering still under way finish.
    page.unroute_all(behavior="wait")


def test_without_push_keys_or_chat_services_the_page_says_so(
    page: Any, errors: list[str], dash: Dash
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    owner = dash.person("plain", "pat@example.com")
    dash.open_as(page, owner.token, "security")
    push = page.get_by_role("region", name="Push notifications on this device")
    expect(push.get_by_role("status")).to_have_text(
        "Push notifications are not set up on this TAP (it has no VAPID keys)."
    )
    expect(push.get_by_role("button")).to_have_count(0)
    chats = page.get_by_role("region", name="Chat accounts", exact=True)
    expect(chats).to_contain_text("this TAP has no chat service")
    expect(chats.get_by_role("button")).to_have_count(0)
    assert serious_violations(page) == []
    shoot(page, "security-nothing-set-up")
    assert errors == []


def test_a_browser_that_refuses_notifications_shows_blocked(
    page: Any, errors: list[str], chat_dash: Dash, push_service: FakePushService
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    owner = chat_dash.person("refusers", "ref@example.com")
    page.add_init_script(STUB_PUSH % json.dumps(push_service.browser("ref").subscription()))
    # As a browser does when the person says no: the answer, and the permission from then on.
    page.add_init_script(
        "Notification.requestPermission = async () => {"
        " Object.defineProperty(Notification, 'permission', { get: () => 'denied' });"
        " return 'denied'; };"
    )
    chat_dash.open_as(page, owner.token, "security")
    card = page.get_by_role("region", name="Push notifications on this device")
    card.get_by_role("button", name="Turn on").click()
    expect(card.get_by_role("alert")).to_have_text("This browser blocks notifications from TAP.")
    expect(card.get_by_role("status")).to_contain_text(
        "Blocked: this browser refuses notifications"
    )
    expect(card.get_by_role("button")).to_have_count(0)
    assert page.evaluate("localStorage.getItem('test.push-subscription')") is None
    assert errors == []
