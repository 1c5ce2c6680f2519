"""The Matrix channel end to end: a real tap-proxy, a real Synapse, people in a room.

Attacks first: a reaction from someone who never linked an account, from a
linked member who may not decide, a vote repeated, an approve on a request
that needs a passkey, a link code shown to a room. Each must change nothing.
"""

from __future__ import annotations

import pytest

from tests.integration.channels.matrix.conftest import CREDENTIAL, MatrixTap, bot_in


async def test_a_linked_owner_approves_with_a_reaction_and_it_is_forwarded_once(
    matrix_tap: MatrixTap,
) -> None:
    tap = matrix_tap
    await tap.link(tap.owner, tap.alice)
    parked = tap.forward()
    assert parked["notification_channel"] == "matrix"
    message = tap.approval_message()
    assert "React ✅ or ❌" in message["content"]["body"]
    assert "sk_live" not in message["content"]["body"]

    # Someone in the room with no linked account.
    eve = tap.synapse.register()
    tap.alice.invite(tap.room, eve.user_id)
    eve.join(tap.room)
    refused = tap.answer_to(tap.alice, tap.room, eve.react(tap.room, message["event_id"], "✅"))
    assert "not authorized" in refused
    assert tap.status(parked["txn_id"]) == "pending" and tap.forwarded() == 0

    tap.alice.react(tap.room, message["event_id"], "✅")
    tap.wait_status(parked["txn_id"], "forwarded")
    assert tap.edit_of(message["event_id"]).startswith("✅ APPROVED by owner@example.com")

    # The same person again, by reply: already decided, nothing sent twice.
    again = tap.alice.reply(tap.room, message["event_id"], "approve")
    assert "already decided" in tap.answer_to(tap.alice, tap.room, again)
    assert tap.forwarded() == 1
    (request,) = [r for r in tap.upstream.received if r.path == "/charge"]
    assert request.body == b'{"amount": 42}'


async def test_a_linked_member_who_may_not_decide_is_refused(matrix_tap: MatrixTap) -> None:
    tap = matrix_tap
    # An approver is eligible only for credentials assigned to them; this one has none.
    bob = await tap.api.invite(tap.owner, "bob@example.com", role="approver")
    bob_matrix = tap.synapse.register()
    await tap.link(bob, bob_matrix)
    parked = tap.forward()
    message = tap.approval_message()
    tap.alice.invite(tap.room, bob_matrix.user_id)
    bob_matrix.join(tap.room)

    for vote in (
        bob_matrix.react(tap.room, message["event_id"], "✅"),
        bob_matrix.reply(tap.room, message["event_id"], "deny"),
    ):
        assert tap.answer_to(bob_matrix, tap.room, vote) == (
            "You are not authorized to decide this request."
        )
    assert tap.status(parked["txn_id"]) == "pending" and tap.forwarded() == 0


@pytest.mark.parametrize("passkeys", [True])
async def test_a_passkey_request_can_be_denied_but_not_approved_from_the_room(
    matrix_tap: MatrixTap,
) -> None:
    tap = matrix_tap
    await tap.link(tap.owner, tap.alice)
    policy = await tap.api.call(
        "PUT",
        f"/team/policies/{CREDENTIAL}",
        tap.owner.token,
        json={"require_approval_methods": ["POST"], "require_passkey": True},
    )
    assert policy.status == 200, policy.body
    parked = tap.forward()
    body = tap.approval_message()["content"]["body"]
    assert "✅" not in body and f"/approve/txn/{parked['txn_id']}" in body
    message = tap.approval_message()

    # A ✅ (or an approve reply) is refused whatever the message offered.
    for vote in (
        tap.alice.react(tap.room, message["event_id"], "✅"),
        tap.alice.reply(tap.room, message["event_id"], "yes"),
    ):
        assert "needs a passkey" in tap.answer_to(tap.alice, tap.room, vote)
    assert tap.status(parked["txn_id"]) == "pending"

    tap.alice.react(tap.room, message["event_id"], "❌")
    tap.wait_status(parked["txn_id"], "denied")
    assert tap.edit_of(message["event_id"]).startswith("❌ DENIED by owner@example.com")
    assert tap.forwarded() == 0


async def test_a_decision_made_elsewhere_edits_the_room_message(matrix_tap: MatrixTap) -> None:
    tap = matrix_tap
    parked = tap.forward()
    message = tap.approval_message()
    decided = await tap.api.call(
        "POST", f"/team/approvals/{parked['txn_id']}/approve", tap.owner.token
    )
    assert decided.status == 200, decided.body
    tap.wait_status(parked["txn_id"], "forwarded")
    edited = tap.edit_of(message["event_id"])
    assert edited.startswith("✅ APPROVED by owner@example.com")
    assert f"POST {tap.upstream.url}/charge" in edited


async def test_a_link_code_shown_to_a_room_is_voided(matrix_tap: MatrixTap) -> None:
    tap = matrix_tap
    issued = await tap.api.call("POST", "/user/identities/matrix", tap.owner.token)
    code = issued.body["code"]
    # Pasted into the shared room by mistake: anyone there could send it to the bot first.
    shown = tap.alice.send_text(tap.room, code)
    assert "no longer works" in tap.answer_to(tap.alice, tap.room, shown)

    dm = tap.alice.create_room(invite=(tap.bot.user_id,), direct=True)
    bot_in(dm, tap.bot, tap.alice)
    late = tap.alice.send_text(dm, code)
    assert "unknown, used or expired" in tap.answer_to(tap.alice, dm, late)
    linked = await tap.api.call("GET", "/user/identities", tap.owner.token)
    assert linked.body["identities"] == []
