"""What the bot writes: the approval message, its edits, and its short notices.

Every function returns Matrix ``m.room.message`` content: a plain ``body``
and the same text as ``org.matrix.custom.html`` in ``formatted_body``, every
value HTML-escaped. A :class:`~app.channels.base.Notice` never holds a
secret, and the body preview is cut to :data:`MAX_BODY_CHARS`.
"""

from __future__ import annotations

import html
from typing import Any, Final

from app.channels.base import Notice, Outcome

MAX_BODY_CHARS: Final = 1500
HTML_FORMAT: Final = "org.matrix.custom.html"

# One line of the message: (label, value) shown as "label: value", or a bare
# sentence when the label is empty. Values are code-formatted in HTML.
_Line = tuple[str, str]


def approval(notice: Notice) -> dict[str, Any]:
    """The message announcing ``notice``, with how to decide it from the room."""
    title = "TAP test message" if notice.test else "Approval needed"
    lines: list[_Line] = [] if notice.test else [("Request id", str(notice.txn_id))]
    lines += [
        ("Agent", notice.agent_id),
        ("Credential", notice.credential_name),
        ("Request", f"{notice.method} {notice.target_url}"),
    ]
    if notice.body_preview:
        preview = notice.body_preview
        if len(preview) > MAX_BODY_CHARS:
            preview = preview[:MAX_BODY_CHARS] + "…"
        lines.append(("Body", preview))
    if notice.test:
        lines.append(("", "This room will receive approval requests."))
        return _content(title, lines)
    if notice.min_approvals > 1:
        lines.append(("", f"Requires {notice.min_approvals} approvals."))
    if notice.require_passkey:
        lines.append(("", f"Approve with a passkey: {notice.approve_url}"))
        lines.append(("", "React ❌ or reply deny to deny."))
    else:
        lines.append(("", "React ✅ or ❌, or reply approve or deny."))
        lines.append(("", f"Review in the browser: {notice.approve_url}"))
    return _content(title, lines)


def outcome_line(outcome: Outcome) -> str:
    """One line saying what became of the request."""
    if outcome.status == "approved":
        return f"✅ APPROVED by {outcome.decided_by or 'an approver'}"
    if outcome.status == "denied":
        return f"❌ DENIED by {outcome.decided_by or 'an approver'}"
    if outcome.status == "expired":
        return "⌛ EXPIRED: nobody decided in time"
    return f"{outcome.approvals}/{outcome.needed} approved, waiting for more"


def edit(event_id: str, notice_text: str) -> dict[str, Any]:
    """An ``m.replace`` edit of our message ``event_id`` to say ``notice_text``."""
    new = _content(notice_text, [])
    return {
        "msgtype": "m.text",
        "body": "* " + new["body"],
        "format": HTML_FORMAT,
        "formatted_body": "* " + new["formatted_body"],
        "m.new_content": new,
        "m.mentions": {},
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
    }


def notice(text: str, reply_to: str | None = None) -> dict[str, Any]:
    """A short ``m.notice`` from the bot, as a reply to ``reply_to`` when given."""
    content: dict[str, Any] = {"msgtype": "m.notice", "body": text}
    if reply_to is not None:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    return content


def _content(title: str, lines: list[_Line]) -> dict[str, Any]:
    plain = [title] + [f"{label}: {value}" if label else value for label, value in lines]
    rich = [f"<b>{html.escape(title)}</b>"] + [
        f"{html.escape(label)}: <code>{html.escape(value)}</code>" if label else html.escape(value)
        for label, value in lines
    ]
    return {
        "msgtype": "m.text",
        "body": "\n".join(plain),
        "format": HTML_FORMAT,
        "formatted_body": "<br>".join(rich),
        # NOTE: explicit "mention nobody", so an agent's text saying @room or a
        # user id cannot make the bot ping the room.
        "m.mentions": {},
    }
