"""Web push: encrypted, VAPID-signed notifications to the members who may decide, nobody else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.channels.conftest import Team, build_team, proxy_env
from tests.support.fake_push import FakePushService, vapid_keys
from tests.support.fake_resend import FakeResend
from tests.support.http_client import Client
from tests.support.proxy import start_proxy
from tests.support.upstream import Upstream
from tests.support.waiting import wait_for


@pytest.fixture
def push_service() -> Iterator[FakePushService]:
    private, public = vapid_keys()
    service = FakePushService(public, vapid_private_key=private).start()
    yield service
    service.stop()


def push_env(service: FakePushService) -> dict[str, str]:
    return {
        "TAP_VAPID_PRIVATE_KEY": service.vapid_private_key,
        "TAP_VAPID_PUBLIC_KEY": service.vapid_public_key,
        "TAP_VAPID_SUBJECT": "mailto:ops@example.com",
    }


@pytest.fixture
def push_team(
    tmp_path: Path,
    database_url: str,
    resend: FakeResend,
    upstream: Upstream,
    push_service: FakePushService,
) -> Iterator[Team]:
    proxy = start_proxy(
        tmp_path, proxy_env(tmp_path, database_url, resend, **push_env(push_service))
    )
    try:
        yield build_team(proxy, resend, upstream)
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_push_is_disabled_without_vapid_keys(
    tmp_path: Path, database_url: str, resend: FakeResend, upstream: Upstream
) -> None:
    proxy = start_proxy(tmp_path, proxy_env(tmp_path, database_url, resend))
    try:
        team = build_team(proxy, resend, upstream)
        team.api.refused("GET", "/push/vapid-public-key", None, 404, "push_disabled")
        body = {"endpoint": "https://push.example.com/x", "p256dh": "x", "auth": "y"}
        team.api.refused(
            "POST", "/push/subscribe", team.owner.token, 404, "push_disabled", json=body
        )
        # No chat channel is wired either: nothing to link, and linking says so.
        assert team.api.ok("GET", "/user/identities", team.owner.token) == {
            "identities": [],
            "linkable": [],
        }
        team.api.refused(
            "POST", "/user/identities/telegram", team.owner.token, 404, "channel_not_configured"
        )
        # Parking still works and names the dashboard.
        parked = team.forward()
        assert parked.status_code == 202
        assert parked.json()["notification_channel"] == "dashboard"
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_eligible_members_get_an_encrypted_signed_notification_and_others_none(
    push_team: Team, push_service: FakePushService
) -> None:
    assert push_team.api.ok("GET", "/push/vapid-public-key") == {
        "public_key": push_service.vapid_public_key
    }
    carol = push_team.invite("carol@example.com", assign=False)  # not assigned: may not decide
    bob = push_team.invite("bob@example.com")
    for person, name in ((push_team.owner, "owner"), (carol, "carol"), (bob, "bob")):
        browser = push_service.browser(name)
        push_team.api.ok("POST", "/push/subscribe", person.token, json=browser.subscription())

    txn = push_team.park()
    wait_for(lambda: push_service.to("bob"), lambda got: len(got) == 1, timeout=20)
    assert push_service.rejected == []
    assert push_service.to("carol") == []
    (to_owner,) = push_service.to("owner")
    assert to_owner.payload == {
        "title": "Approval needed",
        "body": f"POST {push_team.upstream.url}/pay via demo (bot)",
        "txn_id": txn,
        "url": f"/approve/txn/{txn}",
    }
    assert to_owner.claims["sub"] == "mailto:ops@example.com"
    assert 60 <= to_owner.ttl <= 24 * 3600


def test_a_gone_subscription_is_removed(push_team: Team, push_service: FakePushService) -> None:
    browser = push_service.browser("old")
    push_team.api.ok("POST", "/push/subscribe", push_team.owner.token, json=browser.subscription())
    push_service.answer["old"] = 410
    push_team.park()
    wait_for(lambda: push_service.to("old"), lambda got: len(got) == 1, timeout=20)
    # A fresh browser of the same person gets the next one; the gone one is never tried again.
    fresh = push_service.browser("fresh")
    push_team.api.ok("POST", "/push/subscribe", push_team.owner.token, json=fresh.subscription())
    push_team.park()
    wait_for(lambda: push_service.to("fresh"), lambda got: len(got) == 1, timeout=20)
    assert len(push_service.to("old")) == 1


def test_unsubscribe_stops_notifications(push_team: Team, push_service: FakePushService) -> None:
    first = push_service.browser("first")
    second = push_service.browser("second")
    for browser in (first, second):
        push_team.api.ok(
            "POST", "/push/subscribe", push_team.owner.token, json=browser.subscription()
        )
    push_team.api.ok(
        "POST", "/push/unsubscribe", push_team.owner.token, json={"endpoint": first.endpoint}
    )
    push_team.park()
    wait_for(lambda: push_service.to("second"), lambda got: len(got) == 1, timeout=20)
    assert push_service.to("first") == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"endpoint": ""}, "empty endpoint"),
        ({"p256dh": ""}, "empty key"),
        ({"auth": ""}, "empty auth"),
        ({"endpoint": "http://push.example.com/x"}, "plain http off loopback"),
        ({"endpoint": "ftp://push.example.com/x"}, "not http"),
        ({"endpoint": "https://user:pw@push.example.com/x"}, "credentials in the URL"),
        ({"p256dh": "AAAA"}, "not a P-256 point"),
        ({"auth": "AAAA"}, "auth not 16 bytes"),
    ],
)
def test_bad_subscriptions_are_refused(
    push_team: Team, push_service: FakePushService, change: dict[str, str], why: str
) -> None:
    body = {**push_service.browser("x").subscription(), **change}
    push_team.api.refused(
        "POST", "/push/subscribe", push_team.owner.token, 400, "invalid_subscription", json=body
    )


@pytest.mark.parametrize("path", ["/push/subscribe", "/push/unsubscribe"])
@pytest.mark.parametrize(
    "text", ["https://push.example.com/\x00", "https://push.example.com/\ud800"]
)
def test_text_postgres_cannot_store_is_refused_not_an_error(
    push_team: Team, push_service: FakePushService, path: str, text: str
) -> None:
    body = {**push_service.browser("x").subscription(), "endpoint": text}
    if path == "/push/unsubscribe":
        body = {"endpoint": text}
    push_team.api.refused(
        "POST",
        path,
        push_team.owner.token,
        400,
        "invalid_input",
        content=json.dumps(body),  # escapes a lone surrogate as JSON allows
        headers={"Content-Type": "application/json"},
    )


def test_internal_push_endpoints_are_refused_without_the_dangerous_switch(
    tmp_path: Path, database_url: str, resend: FakeResend, push_service: FakePushService
) -> None:
    env = proxy_env(tmp_path, database_url, resend, **push_env(push_service))
    env["DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS"] = ""
    proxy = start_proxy(tmp_path, env)
    try:
        from tests.integration.channels.conftest import sign_up

        owner, _team = sign_up(proxy, resend)
        api = Client(proxy.url)
        good = push_service.browser("x").subscription()
        for endpoint in (
            push_service.browser("y").endpoint,
            "https://127.0.0.1/push",
            "https://localhost/push",
            "https://169.254.169.254/latest",
            "https://[::1]/push",
            "https://10.0.0.8/push",
        ):
            api.refused(
                "POST",
                "/push/subscribe",
                owner.token,
                400,
                "invalid_subscription",
                json={**good, "endpoint": endpoint},
            )
        api.ok(
            "POST",
            "/push/subscribe",
            owner.token,
            json={**good, "endpoint": "https://push.example.com/x"},
        )
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_push_needs_a_session(push_team: Team, push_service: FakePushService) -> None:
    body = push_service.browser("x").subscription()
    assert push_team.api.call("POST", "/push/subscribe", json=body).status_code == 401
    assert (
        push_team.api.call("POST", "/push/unsubscribe", json={"endpoint": "x"}).status_code == 401
    )


def test_the_service_worker_shows_the_notification_and_opens_the_approve_page(
    push_team: Team,
) -> None:
    response = httpx.get(push_team.proxy.url + "/dashboard-sw.js", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    script = response.text
    assert "showNotification" in script
    assert "requireInteraction: true" in script
    assert "tag:" in script
    assert "openWindow" in script
