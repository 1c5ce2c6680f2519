"""The Matrix channel end to end: a real tap-proxy, a real Synapse, people in a room.

Attacks first: a reaction from someone who never linked an account, from a
linked member who may not decide, a vote repeated, an approve on a request
that needs a passkey, a link code shown to a room. Each must change nothing.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.channels.conftest import Team, build_team, proxy_env
from tests.integration.channels.matrix.conftest import (
    PASSKEYS,
    MatrixTeam,
    bot_in,
    matrix_env,
)
from tests.support.fake_resend import FakeResend
from tests.support.proxy import free_port, start_proxy
from tests.support.synapse import Synapse
from tests.support.upstream import Upstream

NOT_AUTHORIZED = "You are not authorized to decide this request."


def test_a_linked_owner_approves_with_a_reaction_and_it_is_forwarded_once(
    mx_team: MatrixTeam,
) -> None:
    mx, team = mx_team, mx_team.team
    mx.link(team.owner, mx.alice)
    parked = team.forward()
    assert parked.status_code == 202 and parked.json()["notification_channel"] == "matrix"
    txn = parked.json()["txn_id"]
    message = mx.approval_message(txn)
    assert "React ✅ or ❌" in message["content"]["body"]
    assert "sk_live" not in str(message)

    # Someone in the room with no linked account.
    eve = mx.join(mx.synapse.register())
    refused = mx.answer_to(eve, mx.room, eve.react(mx.room, message["event_id"], "✅"))
    assert refused.startswith(NOT_AUTHORIZED) and "Link your matrix account" in refused
    assert team.status(txn) == "pending" and team.upstream.received == []

    mx.alice.react(mx.room, message["event_id"], "✅")
    assert team.wait_status(txn, {"forwarded"}) == "forwarded"
    edited = mx.edit_of(message["event_id"])
    assert edited.startswith("✅ APPROVED by owner@example.com")

    # The same person again, by reply: already decided, nothing sent twice.
    again = mx.alice.reply(mx.room, message["event_id"], "approve", quoted="Approval needed")
    assert "already decided" in mx.answer_to(mx.alice, mx.room, again)
    assert [r.body for r in team.upstream.received] == [b'{"amount": 5}']


def test_a_linked_member_who_may_not_decide_is_refused(mx_team: MatrixTeam) -> None:
    mx, team = mx_team, mx_team.team
    # An approver decides only credentials assigned to them; this one has none.
    bob = team.invite("bob@example.com", role="approver", assign=False)
    bob_matrix = mx.join(mx.synapse.register())
    mx.link(bob, bob_matrix)
    txn = team.park()
    message = mx.approval_message(txn)
    for vote in (
        bob_matrix.react(mx.room, message["event_id"], "✅"),
        bob_matrix.reply(mx.room, message["event_id"], "deny"),
    ):
        assert mx.answer_to(bob_matrix, mx.room, vote) == NOT_AUTHORIZED
    assert team.status(txn) == "pending" and team.upstream.received == []


def test_quorum_counts_distinct_linked_members(mx_team: MatrixTeam) -> None:
    mx, team = mx_team, mx_team.team
    team.policy(min_approvals=2)
    ann = team.invite("ann@example.com", role="approver")
    ann_matrix = mx.join(mx.synapse.register())
    mx.link(team.owner, mx.alice)
    mx.link(ann, ann_matrix)
    txn = team.park()
    message = mx.approval_message(txn)
    assert "Requires 2 approvals." in message["content"]["body"]

    first = mx.alice.react(mx.room, message["event_id"], "✅")
    assert mx.answer_to(mx.alice, mx.room, first).startswith("1/2 approved")
    twice = mx.alice.reply(mx.room, message["event_id"], "yes")
    assert mx.answer_to(mx.alice, mx.room, twice).startswith("1/2 approved")
    assert team.status(txn) == "pending"

    ann_matrix.react(mx.room, message["event_id"], "✅")
    assert team.wait_status(txn, {"forwarded"}) == "forwarded"
    assert mx.edit_of(message["event_id"]).startswith("✅ APPROVED by ann@example.com")
    assert len(team.upstream.received) == 1


def test_a_passkey_request_can_be_denied_but_not_approved_from_the_room(
    mx_team: MatrixTeam,
) -> None:
    mx, team = mx_team, mx_team.team
    team.policy(require_passkey=True)
    mx.restart(**PASSKEYS)  # the team was set up first: with passkeys on, signing in needs one
    mx.link(team.owner, mx.alice)
    txn = team.park()
    message = mx.approval_message(txn)
    body = message["content"]["body"]
    assert "✅" not in body and f"https://tap.example.test/approve/txn/{txn}" in body

    # A ✅ (or an approve reply) is refused whatever the message offered.
    for vote in (
        mx.alice.react(mx.room, message["event_id"], "✅"),
        mx.alice.reply(mx.room, message["event_id"], "yes"),
    ):
        assert "needs a passkey" in mx.answer_to(mx.alice, mx.room, vote)
    assert team.status(txn) == "pending"

    mx.alice.react(mx.room, message["event_id"], "❌")
    assert team.wait_status(txn, {"denied"}) == "denied"
    assert mx.edit_of(message["event_id"]).startswith("❌ DENIED by owner@example.com")
    assert team.upstream.received == []


def test_a_decision_made_elsewhere_edits_the_room_message(mx_team: MatrixTeam) -> None:
    mx, team = mx_team, mx_team.team
    txn = team.park()
    message = mx.approval_message(txn)
    team.api.ok("POST", f"/team/approvals/{txn}/deny", team.owner.token)
    edited = mx.edit_of(message["event_id"])
    assert edited.startswith("❌ DENIED by owner@example.com")
    assert f"POST {team.upstream.url}/pay" in edited


def test_a_link_code_shown_to_a_room_is_voided(mx_team: MatrixTeam) -> None:
    mx, team = mx_team, mx_team.team
    code = team.api.ok("POST", "/user/identities/matrix", team.owner.token)["code"]
    # A word that merely looks like a code gets no answer (handled in order, before the code).
    word = mx.alice.send_text(mx.room, "deploy_tomorrow_morning")
    # Pasted into the shared room by mistake: anyone there could send it to the bot first.
    shown = mx.alice.send_text(mx.room, code)
    assert "no longer works" in mx.answer_to(mx.alice, mx.room, shown)
    assert mx.answers_to(word) == 0

    dm = mx.alice.create_room(invite=(mx.bot.user_id,), direct=True)
    bot_in(dm, mx.bot, mx.alice)
    late = mx.alice.send_text(dm, code)
    assert "unknown, used or expired" in mx.answer_to(mx.alice, dm, late)
    assert team.api.ok("GET", "/user/identities", team.owner.token)["identities"] == []


def test_one_replica_syncs_and_another_takes_over_where_it_stopped(mx_team: MatrixTeam) -> None:
    mx, team = mx_team, mx_team.team
    first = team.proxy
    second = mx.start_replica()
    eve = mx.join(mx.synapse.register())
    txn = team.park()
    message = mx.approval_message(txn)
    before = eve.react(mx.room, message["event_id"], "✅")
    assert mx.answer_to(eve, mx.room, before).startswith(NOT_AUTHORIZED)

    # The replica that leads goes away; what is said next is still answered, once.
    assert first.stop() == 0, first.log()
    team.proxy = second
    after = eve.reply(mx.room, message["event_id"], "deny")
    assert mx.answer_to(eve, mx.room, after).startswith(NOT_AUTHORIZED)
    assert (mx.answers_to(before), mx.answers_to(after)) == (1, 1)

    # A decision on the surviving replica still edits the message.
    team.api.ok("POST", f"/team/approvals/{txn}/approve", team.owner.token)
    assert mx.edit_of(message["event_id"]).startswith("✅ APPROVED by owner@example.com")


def test_a_homeserver_that_is_down_never_delays_the_202(
    tmp_path: Path,
    database_url: str,
    synapse: Synapse,
    resend: FakeResend,
    upstream: Upstream,
) -> None:
    bot = synapse.register()
    env = matrix_env(synapse, bot) | {"MATRIX_HOMESERVER_URL": f"http://127.0.0.1:{free_port()}"}
    proxy = start_proxy(tmp_path, proxy_env(tmp_path, database_url, resend, **env))
    try:
        team = build_team(proxy, resend, upstream)
        team.api.ok(
            "POST",
            "/team/notification-channels",
            team.owner.token,
            status=201,
            json={"channel_type": "matrix", "name": "ops", "config": {"room_id": "!r:localhost"}},
        )
        parked = team.forward()
        assert parked.status_code == 202 and parked.json()["notification_channel"] == "matrix"
        inbox = team.api.ok("GET", "/team/approvals", team.owner.token)["approvals"]
        assert [p["txn_id"] for p in inbox] == [parked.json()["txn_id"]]
        # What needs the homeserver says it is unavailable, and names no token.
        for method, path in (("GET", "/team/matrix/bot"), ("POST", "/user/identities/matrix")):
            refused = team.api.refused(method, path, team.owner.token, 503, "channel_unavailable")
            assert bot.access_token not in str(refused)
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_managers_see_which_bot_to_invite_and_can_send_a_test_message(mx_team: MatrixTeam) -> None:
    mx, team = mx_team, mx_team.team
    bot = team.api.ok("GET", "/team/matrix/bot", team.owner.token)
    assert bot == {"user_id": mx.bot.user_id, "homeserver_url": mx.synapse.url}
    approver = team.invite("ann@example.com", role="approver")
    team.api.refused("GET", "/team/matrix/bot", approver.token, 403, "forbidden")

    team.api.ok("POST", "/team/notification-channels/ops/test", team.owner.token)
    test = mx.alice.wait_for_message(
        mx.room, mx.bot.user_id, lambda e: e["content"]["body"].startswith("TAP test message")
    )
    assert "React" not in test["content"]["body"]


def test_without_a_matrix_bot_there_is_none_to_show(tg_team: Team) -> None:
    tg_team.api.refused(
        "GET", "/team/matrix/bot", tg_team.owner.token, 404, "channel_not_configured"
    )
    tg_team.api.refused(
        "POST", "/user/identities/matrix", tg_team.owner.token, 404, "channel_not_configured"
    )


def test_an_expired_request_is_marked_so_and_no_longer_decided(mx_team: MatrixTeam) -> None:
    mx, team = mx_team, mx_team.team
    mx.restart(TAP_APPROVAL_TIMEOUT_SECS="8")
    mx.link(team.owner, mx.alice)
    txn = team.park()
    message = mx.approval_message(txn)
    assert mx.edit_of(message["event_id"]).startswith("⌛ EXPIRED")
    late = mx.alice.react(mx.room, message["event_id"], "✅")
    assert "already decided or has expired" in mx.answer_to(mx.alice, mx.room, late)
    assert team.upstream.received == []
