"""What one ``/sync`` answer asks of the bot: rooms to join, decisions, and plain texts.

:func:`read_sync` turns the raw JSON into three kinds of frozen values and
drops everything else, including every event the bot sent itself (the
reference acts on its own events):

- :class:`Invite`: the bot was invited to a room (it joins), by whom, and
  whether as a direct chat.
- :class:`Verdict`: someone reacted ✅/❌ to a message, or replied to it (a
  rich reply or a thread) with approve/yes/y or deny/no/n.
- :class:`Text`: a plain message that relates to nothing (a link code, when
  sent in a direct room).

It never raises: the homeserver's JSON is read defensively, and a malformed
event is skipped.

Usage::

    for item in read_sync(answer, me="@tap:example.org"):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

Decision = Literal["approve", "deny"]

REACTIONS: Final[dict[str, Decision]] = {"✅": "approve", "❌": "deny"}
WORDS: Final[dict[str, Decision]] = {
    "approve": "approve",
    "yes": "approve",
    "y": "approve",
    "deny": "deny",
    "no": "deny",
    "n": "deny",
}
_VARIATION_SELECTOR: Final = "\ufe0f"


@dataclass(frozen=True, slots=True)
class Invite:
    room_id: str
    inviter: str | None = None
    direct: bool = False
    """The inviter marked it a direct chat (``is_direct`` on the bot's invite)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    room_id: str
    sender: str
    target_event_id: str
    """The event decided on: our approval message, if it is one of ours."""
    decision: Decision
    event_id: str
    """The reaction or reply itself (the bot answers in its thread)."""


@dataclass(frozen=True, slots=True)
class Text:
    room_id: str
    sender: str
    body: str
    event_id: str


SyncItem = Invite | Verdict | Text


def next_batch(answer: dict[str, Any]) -> str | None:
    """The token to pass as ``since`` on the next sync."""
    token = answer.get("next_batch")
    return token if isinstance(token, str) and token else None


def gaps(answer: dict[str, Any]) -> list[str]:
    """Rooms whose timeline in ``answer`` is cut (``limited``): older events were not sent."""
    joined = _obj(_obj(answer.get("rooms")).get("join"))
    return [
        room_id
        for room_id, room in joined.items()
        if _obj(_obj(room).get("timeline")).get("limited") is True
    ]


def read_sync(answer: dict[str, Any], *, me: str) -> Iterator[SyncItem]:
    """Everything in ``answer`` the bot acts on, in timeline order per room."""
    rooms = _obj(answer.get("rooms"))
    for room_id, room in _obj(rooms.get("invite")).items():
        yield _read_invite(room_id, _obj(room), me)
    for room_id, room in _obj(rooms.get("join")).items():
        events = _obj(_obj(room).get("timeline")).get("events")
        for event in events if isinstance(events, list) else []:
            item = _read_event(room_id, _obj(event), me)
            if item is not None:
                yield item


def _read_invite(room_id: str, room: dict[str, Any], me: str) -> Invite:
    events = _obj(room.get("invite_state")).get("events")
    for event in events if isinstance(events, list) else []:
        event = _obj(event)
        if event.get("type") == "m.room.member" and event.get("state_key") == me:
            inviter = event.get("sender")
            direct = _obj(event.get("content")).get("is_direct") is True
            return Invite(room_id, inviter if isinstance(inviter, str) else None, direct)
    return Invite(room_id)


def _read_event(room_id: str, event: dict[str, Any], me: str) -> Verdict | Text | None:
    sender, event_id = event.get("sender"), event.get("event_id")
    if not isinstance(sender, str) or not isinstance(event_id, str) or sender == me:
        return None
    content = _obj(event.get("content"))
    relation = _obj(content.get("m.relates_to"))
    if event.get("type") == "m.reaction":
        target, key = relation.get("event_id"), relation.get("key")
        if relation.get("rel_type") != "m.annotation" or not isinstance(target, str):
            return None
        decision = REACTIONS.get(str(key).replace(_VARIATION_SELECTOR, ""))
        return None if decision is None else Verdict(room_id, sender, target, decision, event_id)
    if event.get("type") != "m.room.message" or content.get("msgtype") != "m.text":
        return None
    body = content.get("body")
    if not isinstance(body, str):
        return None
    target = _replied_to(relation)
    if target is None:
        if relation:  # an edit or another relation: not a fresh message
            return None
        return Text(room_id, sender, body.strip(), event_id)
    decision = WORDS.get(strip_reply_fallback(body).strip().lower())
    return None if decision is None else Verdict(room_id, sender, target, decision, event_id)


def _replied_to(relation: dict[str, Any]) -> str | None:
    """The event a reply or thread message answers: the quoted one, else the thread root."""
    quoted = _obj(relation.get("m.in_reply_to")).get("event_id")
    if isinstance(quoted, str):
        return quoted
    root = relation.get("event_id")
    if relation.get("rel_type") == "m.thread" and isinstance(root, str):
        return root
    return None


def strip_reply_fallback(body: str) -> str:
    """``body`` without the ``> `` quote lines a rich reply puts before the answer."""
    lines = body.split("\n")
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index and index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
