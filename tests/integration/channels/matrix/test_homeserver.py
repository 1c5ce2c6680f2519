"""The Synapse fixture itself: people can register, meet in a room, talk and react."""

from __future__ import annotations

from tests.support.synapse import Synapse


def test_two_people_talk_and_react_in_a_room(synapse: Synapse) -> None:
    alice = synapse.register()
    bob = synapse.register()
    room = alice.create_room(invite=(bob.user_id,))
    bob.join(room)
    assert alice.joined_members(room) == {alice.user_id, bob.user_id}

    question = alice.send_text(room, "ship it?")
    bob.reply(room, question, "yes", quoted="ship it?")
    bob.react(room, question, "✅")

    events = alice.messages(room)
    reply = next(e for e in events if e["type"] == "m.room.message" and e["sender"] == bob.user_id)
    assert reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == question
    reaction = next(e for e in events if e["type"] == "m.reaction")
    assert reaction["content"]["m.relates_to"] == {
        "rel_type": "m.annotation",
        "event_id": question,
        "key": "✅",
    }
