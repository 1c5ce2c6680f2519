"""Reading a sync answer: which events are decisions, texts, invites, or nothing."""

from __future__ import annotations

from typing import Any

import pytest

from app.channels.matrix.events import (
    Invite,
    Text,
    Verdict,
    gaps,
    next_batch,
    read_sync,
    strip_reply_fallback,
)

ME = "@tap:localhost"
ROOM = "!room:localhost"


def sync_with(*timeline: dict[str, Any], invites: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "next_batch": "s1",
        "rooms": {
            "invite": {room: {} for room in invites},
            "join": {ROOM: {"timeline": {"events": list(timeline)}}},
        },
    }


def event(type_: str, content: dict[str, Any], sender: str = "@alice:localhost") -> dict[str, Any]:
    return {"type": type_, "sender": sender, "event_id": "$e", "content": content}


def reaction(key: str, rel_type: str = "m.annotation") -> dict[str, Any]:
    return event(
        "m.reaction", {"m.relates_to": {"rel_type": rel_type, "event_id": "$msg", "key": key}}
    )


def text(body: str, relates_to: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"msgtype": "m.text", "body": body}
    if relates_to is not None:
        content["m.relates_to"] = relates_to
    return event("m.room.message", content)


REPLY = {"m.in_reply_to": {"event_id": "$msg"}}
THREAD = {"rel_type": "m.thread", "event_id": "$msg"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # reactions
        (reaction("✅"), Verdict(ROOM, "@alice:localhost", "$msg", "approve", "$e")),
        (reaction("❌"), Verdict(ROOM, "@alice:localhost", "$msg", "deny", "$e")),
        (reaction("✅\ufe0f"), Verdict(ROOM, "@alice:localhost", "$msg", "approve", "$e")),
        (reaction("👍"), None),
        (reaction("✅", rel_type="m.reference"), None),
        # replies and threads, fallback stripped, case and spaces ignored
        (
            text("> <@tap> Approval needed\n\n Yes ", REPLY),
            Verdict(ROOM, "@alice:localhost", "$msg", "approve", "$e"),
        ),
        (text("n", THREAD), Verdict(ROOM, "@alice:localhost", "$msg", "deny", "$e")),
        (text("approve please", REPLY), None),
        # plain texts (link codes); edits are not fresh texts
        (text(" code-1 "), Text(ROOM, "@alice:localhost", "code-1", "$e")),
        (text("approve", {"rel_type": "m.replace", "event_id": "$x"}), None),
        # other message types and malformed events
        (event("m.room.message", {"msgtype": "m.notice", "body": "approve"}), None),
        (event("m.room.message", {"msgtype": "m.text", "body": 5}), None),
        ({"type": "m.reaction"}, None),
    ],
)
def test_one_event(raw: dict[str, Any], expected: Verdict | Text | None) -> None:
    assert list(read_sync(sync_with(raw), me=ME)) == ([] if expected is None else [expected])


def test_the_bots_own_events_are_never_acted_on() -> None:
    own = event("m.reaction", reaction("✅")["content"], sender=ME)
    assert list(read_sync(sync_with(own, text("hi") | {"sender": ME}), me=ME)) == []


def test_invites_come_first_and_garbage_is_skipped() -> None:
    answer = sync_with(reaction("✅"), invites=("!new:localhost",))
    answer["rooms"]["join"]["!bad:localhost"] = {"timeline": {"events": "nope"}}
    items = list(read_sync(answer, me=ME))
    assert items[0] == Invite("!new:localhost") and len(items) == 2
    assert list(read_sync({"rooms": []}, me=ME)) == []
    assert next_batch({"next_batch": ""}) is None and next_batch(answer) == "s1"


def test_reply_fallback() -> None:
    assert strip_reply_fallback("> a\n> b\n\ndeny") == "deny"
    assert strip_reply_fallback("deny") == "deny"
    assert strip_reply_fallback("> only a quote") == ""


def test_a_direct_invite_names_its_inviter() -> None:
    member = {
        "type": "m.room.member",
        "state_key": ME,
        "sender": "@alice:localhost",
        "content": {"membership": "invite", "is_direct": True},
    }
    answer = {"rooms": {"invite": {"!dm:localhost": {"invite_state": {"events": [member]}}}}}
    assert list(read_sync(answer, me=ME)) == [Invite("!dm:localhost", "@alice:localhost", True)]
    member["state_key"] = "@someone-else:localhost"
    assert list(read_sync(answer, me=ME)) == [Invite("!dm:localhost")]


def test_a_cut_timeline_is_reported() -> None:
    answer = sync_with(reaction("✅"))
    assert gaps(answer) == []
    answer["rooms"]["join"][ROOM]["timeline"]["limited"] = True
    assert gaps(answer) == [ROOM]
