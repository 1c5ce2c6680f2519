"""Telegram: the message, decisions by verified members only, and the message updated after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.channels.conftest import (
    CHAT,
    SECRET,
    Team,
    build_team,
    link_telegram,
    press,
    proxy_env,
    telegram_env,
    webhook,
)
from tests.support.fake_resend import FakeResend
from tests.support.fake_telegram import FakeTelegram, callback, private_text
from tests.support.proxy import start_proxy
from tests.support.upstream import Upstream
from tests.support.waiting import wait_for

ANN = 1111
STRANGER = 6666


def approval_message(telegram: FakeTelegram, txn: str) -> dict[str, Any]:
    """The one message about ``txn`` in the chat, once it is there."""

    def about() -> list[dict[str, Any]]:
        return [m for m in telegram.of("sendMessage") if txn in str(m.get("reply_markup", ""))]

    sent = wait_for(about, lambda found: len(found) >= 1, timeout=20)
    assert len(sent) == 1, sent
    return sent[0]


def test_webhook_refuses_a_missing_or_wrong_secret(tg_team: Team) -> None:
    update = callback(ANN, "deny:00000000-0000-0000-0000-000000000000")
    for secret in (None, "wrong-secret-0123456789abcdef", ""):
        refused = webhook(tg_team, update, secret=secret)
        assert refused.status_code == 401
        assert refused.json()["error"] == "webhook_unauthorized"
    assert tg_team.telegram is not None
    assert tg_team.telegram.of("answerCallbackQuery") == []
    # The webhook was registered with the secret at start-up.
    (registered,) = tg_team.telegram.of("setWebhook")
    assert registered["secret_token"] == "webhook-secret-0123456789abcdef"
    assert registered["url"].endswith("/telegram/webhook")


def test_a_webhook_without_a_secret_is_refused_at_start_up(
    tmp_path: Path, database_url: str, resend: FakeResend, telegram: FakeTelegram
) -> None:
    env = proxy_env(
        tmp_path,
        database_url,
        resend,
        **telegram.env(TELEGRAM_WEBHOOK_URL="https://tap.example.com/telegram/webhook"),
    )
    proxy = start_proxy(tmp_path, env, wait=False)
    assert proxy.process.wait(60) == 2
    assert "TELEGRAM_WEBHOOK_SECRET" in proxy.log()


def test_a_linked_member_approves_from_the_chat_and_it_is_forwarded_once(tg_team: Team) -> None:
    telegram = tg_team.telegram
    assert telegram is not None
    txn = tg_team.park(content=b'{"note": "<b>pay</b> & go"}')
    message = approval_message(telegram, txn)
    assert message["chat_id"] == CHAT
    assert message["parse_mode"] == "HTML"
    assert "&lt;b&gt;pay&lt;/b&gt; &amp; go" in message["text"]
    assert SECRET not in str(message)
    message_id = _message_id(telegram, txn)
    buttons = message["reply_markup"]["inline_keyboard"][0]
    assert [b.get("callback_data") for b in buttons] == [f"approve:{txn}", f"deny:{txn}"]

    link_telegram(tg_team, tg_team.owner, ANN)
    assert "Linked" in telegram.of("sendMessage")[-1]["text"]
    listed = tg_team.api.ok("GET", "/user/identities", tg_team.owner.token)
    assert [(i["kind"], i["external_id"]) for i in listed["identities"]] == [("telegram", str(ANN))]
    assert listed["linkable"] == ["telegram"]  # the kinds the dashboard offers to link

    assert press(tg_team, ANN, f"approve:{txn}") == "Approved."
    assert tg_team.wait_status(txn, {"forwarded"}) == "forwarded"
    # A second press (or Telegram delivering the callback twice) changes nothing.
    assert "already decided" in press(tg_team, ANN, f"approve:{txn}")
    assert [r.path for r in tg_team.upstream.received] == ["/pay"]

    edited = wait_for(
        lambda: [e for e in telegram.of("editMessageText") if e["message_id"] == message_id],
        lambda found: len(found) >= 1,
        timeout=20,
    )
    assert "APPROVED by owner@example.com" in edited[-1]["text"]
    assert edited[-1]["reply_markup"] == {"inline_keyboard": []}


def _message_id(telegram: FakeTelegram, txn: str) -> int:
    for (_chat, message_id), message in telegram.messages.items():
        if txn in str(message.get("reply_markup", "")):
            return message_id
    raise AssertionError("no message about " + txn)


def test_unlinked_and_ineligible_people_cannot_decide(tg_team: Team) -> None:
    # An approver who is not assigned this credential, and one outside allowed_approvers.
    bob = tg_team.invite("bob@example.com", assign=False)
    carol = tg_team.invite("carol@example.com")
    link_telegram(tg_team, bob, 2222)
    link_telegram(tg_team, carol, 3333)
    tg_team.policy(allowed_approvers=["owner@example.com"])
    txn = tg_team.park()

    assert "not authorized" in press(tg_team, STRANGER, f"approve:{txn}")
    assert "not authorized" in press(tg_team, STRANGER, f"deny:{txn}")
    assert "not authorized" in press(tg_team, 2222, f"deny:{txn}")
    assert "not authorized" in press(tg_team, 3333, f"approve:{txn}")
    assert tg_team.status(txn) == "pending"
    # Nothing is learned about requests that do not exist either.
    assert "unknown" in press(tg_team, STRANGER, "approve:00000000-0000-0000-0000-000000000000")
    assert "Unknown action" in press(tg_team, ANN, f"grant:{txn}")


def test_quorum_applies_in_the_chat_as_on_the_api(tg_team: Team) -> None:
    carol = tg_team.invite("carol@example.com")
    link_telegram(tg_team, tg_team.owner, ANN)
    link_telegram(tg_team, carol, 3333)
    tg_team.policy(min_approvals=2)
    txn = tg_team.park()
    assert press(tg_team, ANN, f"approve:{txn}") == "1/2 approved, waiting for more."
    assert press(tg_team, ANN, f"approve:{txn}") == "1/2 approved, waiting for more."
    assert tg_team.status(txn) == "pending"
    assert press(tg_team, 3333, f"approve:{txn}") == "Approved."
    assert tg_team.wait_status(txn, {"forwarded"}) == "forwarded"
    assert len(tg_team.upstream.received) == 1


def test_a_link_code_works_once_and_an_unlinked_account_loses_its_power(tg_team: Team) -> None:
    telegram = tg_team.telegram
    assert telegram is not None
    issued = tg_team.api.ok("POST", "/user/identities/telegram", tg_team.owner.token)
    assert webhook(tg_team, private_text(ANN, f"/start {issued['code']}")).status_code == 200
    # The same code from another account links nothing.
    assert webhook(tg_team, private_text(STRANGER, f"/start {issued['code']}")).status_code == 200
    assert "unknown, already used or expired" in telegram.of("sendMessage")[-1]["text"]
    assert (
        webhook(tg_team, private_text(STRANGER, "/start forged-code-0123456789")).status_code == 200
    )
    listed = tg_team.api.ok("GET", "/user/identities", tg_team.owner.token)["identities"]
    assert [i["external_id"] for i in listed] == [str(ANN)]

    tg_team.api.ok("DELETE", f"/user/identities/{listed[0]['id']}", tg_team.owner.token)
    tg_team.api.refused(
        "DELETE", f"/user/identities/{listed[0]['id']}", tg_team.owner.token, 404, "not_found"
    )
    txn = tg_team.park()
    assert "not authorized" in press(tg_team, ANN, f"approve:{txn}")
    assert tg_team.status(txn) == "pending"


def test_a_passkey_request_gets_a_link_and_a_forged_approve_is_refused(
    tmp_path: Path,
    database_url: str,
    resend: FakeResend,
    upstream: Upstream,
    telegram: FakeTelegram,
) -> None:
    # The team is set up before passkeys are switched on (sign-in then needs one).
    plain = proxy_env(tmp_path, database_url, resend, **telegram_env(telegram))
    first = start_proxy(tmp_path, plain)
    try:
        team = build_team(first, resend, upstream, approval_channel="telegram")
        team.policy(require_passkey=True)
    finally:
        assert first.stop() == 0, first.log()
    passkeys = {
        "WEBAUTHN_RP_ID": "tap.example.test",
        "WEBAUTHN_RP_ORIGIN": "https://tap.example.test",
        "TAP_APP_URL": "https://tap.example.test",
    }
    proxy = start_proxy(tmp_path, {**plain, **passkeys})
    try:
        team.proxy = proxy
        team.telegram = telegram
        link_telegram(team, team.owner, ANN)
        txn = team.park()
        message = approval_message(telegram, txn)
        approve, deny = message["reply_markup"]["inline_keyboard"][0]
        assert "callback_data" not in approve
        assert approve["url"] == f"https://tap.example.test/approve/txn/{txn}"
        assert deny["callback_data"] == f"deny:{txn}"

        assert "passkey" in press(team, ANN, f"approve:{txn}")
        assert team.status(txn) == "pending"
        assert press(team, ANN, f"deny:{txn}") == "Denied."
        assert team.wait_status(txn, {"denied"}) == "denied"
        assert upstream.received == []
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_a_decision_on_the_api_updates_the_chat_message(tg_team: Team) -> None:
    telegram = tg_team.telegram
    assert telegram is not None
    txn = tg_team.park()
    approval_message(telegram, txn)
    tg_team.api.ok("POST", f"/team/approvals/{txn}/deny", tg_team.owner.token)
    edited = wait_for(
        lambda: telegram.of("editMessageText"), lambda found: len(found) >= 1, timeout=20
    )
    assert "DENIED by owner@example.com" in edited[0]["text"]
    assert edited[0]["reply_markup"] == {"inline_keyboard": []}


def test_a_down_telegram_never_delays_the_202_and_delivery_is_retried(tg_team: Team) -> None:
    telegram = tg_team.telegram
    assert telegram is not None
    telegram.fail_with = 502
    txn = tg_team.park()
    # The dashboard has it at once.
    pending = tg_team.api.ok("GET", "/team/approvals", tg_team.owner.token)["approvals"]
    assert [p["txn_id"] for p in pending] == [txn]
    wait_for(lambda: telegram.of("sendMessage"), lambda sent: len(sent) >= 2, timeout=30)
    telegram.fail_with = None
    wait_for(
        lambda: [m for m in telegram.messages.values() if txn in str(m.get("reply_markup"))],
        lambda delivered: len(delivered) == 1,
        timeout=30,
    )


def test_the_test_message_goes_to_the_channel_chat(tg_team: Team) -> None:
    telegram = tg_team.telegram
    assert telegram is not None
    tg_team.api.ok(
        "POST",
        "/team/notification-channels",
        tg_team.owner.token,
        status=201,
        json={"channel_type": "telegram", "name": "ops", "config": {"chat_id": "-2002"}},
    )
    assert tg_team.api.ok("POST", "/team/notification-channels/ops/test", tg_team.owner.token) == {
        "name": "ops",
        "sent": True,
    }
    (sent,) = telegram.of("sendMessage")
    assert sent["chat_id"] == "-2002"
    assert "test message" in sent["text"]
    tg_team.api.refused(
        "POST", "/team/notification-channels/nope/test", tg_team.owner.token, 404, "not_found"
    )
    # The team's row now routes requests to its own chat.
    txn = tg_team.park()
    assert approval_message(telegram, txn)["chat_id"] == "-2002"
    telegram.fail_with = 502
    tg_team.api.refused(
        "POST",
        "/team/notification-channels/ops/test",
        tg_team.owner.token,
        503,
        "channel_unavailable",
    )


@pytest.mark.parametrize("mode", ["long-poll"])
def test_long_poll_mode_links_and_decides(
    tmp_path: Path,
    database_url: str,
    resend: FakeResend,
    upstream: Upstream,
    telegram: FakeTelegram,
    mode: str,
) -> None:
    env = proxy_env(tmp_path, database_url, resend, **telegram.env(TELEGRAM_CHAT_ID=CHAT))
    proxy = start_proxy(tmp_path, env)
    try:
        team = build_team(proxy, resend, upstream, approval_channel="telegram")
        assert telegram.of("setWebhook") == []
        issued = team.api.ok("POST", "/user/identities/telegram", team.owner.token)
        telegram.push_update(private_text(ANN, f"/start {issued['code']}"))
        wait_for(
            lambda: team.api.ok("GET", "/user/identities", team.owner.token)["identities"],
            lambda found: len(found) == 1,
            timeout=20,
        )
        txn = team.park()
        approval_message(telegram, txn)
        telegram.push_update(callback(ANN, f"deny:{txn}"))
        assert team.wait_status(txn, {"denied"}) == "denied"
        # The webhook is closed in long-poll mode: no secret can match.
        refused = httpx.post(
            proxy.url + "/telegram/webhook",
            json=callback(ANN, f"deny:{txn}"),
            timeout=30,
            headers={"X-Telegram-Bot-Api-Secret-Token": ""},
        )
        assert refused.status_code == 401
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_only_one_worker_long_polls(
    tmp_path: Path,
    database_url: str,
    resend: FakeResend,
    upstream: Upstream,
    telegram: FakeTelegram,
) -> None:
    """Telegram allows one getUpdates at a time per bot (a second is a 409), and two pollers
    would each act on the same update: one worker leads, the others wait to take over."""
    env = proxy_env(tmp_path, database_url, resend, **telegram.env(TELEGRAM_CHAT_ID=CHAT))
    proxy = start_proxy(tmp_path, {**env, "TAP_WORKERS": "2"})
    try:
        team = build_team(proxy, resend, upstream, approval_channel="telegram")
        issued = team.api.ok("POST", "/user/identities/telegram", team.owner.token)
        telegram.push_update(private_text(ANN, f"/start {issued['code']}"))
        wait_for(
            lambda: team.api.ok("GET", "/user/identities", team.owner.token)["identities"],
            lambda found: len(found) == 1,
            timeout=20,
        )
        polled = telegram.polls
        wait_for(lambda: telegram.polls, lambda now: now >= polled + 3, timeout=20)
        assert telegram.overlapping_polls == 0
        replies = [m for m in telegram.of("sendMessage") if str(m["chat_id"]) == str(ANN)]
        assert len(replies) == 1, replies
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_linking_needs_a_session_and_a_configured_channel(tg_team: Team) -> None:
    telegram = tg_team.telegram
    assert telegram is not None
    assert tg_team.api.call("POST", "/user/identities/telegram").status_code == 401
    assert tg_team.api.call("GET", "/user/identities").status_code == 401
    tg_team.api.refused(
        "POST", "/user/identities/matrix", tg_team.owner.token, 404, "channel_not_configured"
    )


def test_tap_starts_while_telegram_is_down_and_links_once_it_is_back(
    tmp_path: Path,
    database_url: str,
    resend: FakeResend,
    upstream: Upstream,
    telegram: FakeTelegram,
) -> None:
    telegram.fail_with = 502
    proxy = start_proxy(
        tmp_path, proxy_env(tmp_path, database_url, resend, **telegram_env(telegram))
    )
    try:
        team = build_team(proxy, resend, upstream, approval_channel="telegram")
        team.api.refused(
            "POST", "/user/identities/telegram", team.owner.token, 503, "channel_unavailable"
        )
        assert team.forward().status_code == 202
        telegram.fail_with = None
        issued = team.api.ok("POST", "/user/identities/telegram", team.owner.token)
        assert issued["deep_link"].startswith("https://t.me/tap_test_bot?start=")
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_an_expired_request_s_message_says_so(
    tmp_path: Path,
    database_url: str,
    resend: FakeResend,
    upstream: Upstream,
    telegram: FakeTelegram,
) -> None:
    env = proxy_env(tmp_path, database_url, resend, **telegram_env(telegram))
    env["TAP_APPROVAL_TIMEOUT_SECS"] = "3"
    proxy = start_proxy(tmp_path, env)
    try:
        team = build_team(proxy, resend, upstream, approval_channel="telegram")
        txn = team.park()
        approval_message(telegram, txn)
        assert team.wait_status(txn, {"timed_out"}) == "timed_out"
        edited = wait_for(
            lambda: telegram.of("editMessageText"), lambda found: len(found) == 1, timeout=20
        )
        assert "EXPIRED" in edited[0]["text"]
        assert edited[0]["reply_markup"] == {"inline_keyboard": []}
    finally:
        assert proxy.stop() == 0, proxy.log()
