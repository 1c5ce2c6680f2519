"""What the Telegram messages say, and their buttons. HTML-escaped; never a secret.

Callback data is ``approve:<txn>`` or ``deny:<txn>``. A passkey-required
request gets a URL button to the approve page instead of Approve (the forged
``approve:`` callback is refused by :mod:`app.channels.deciding` anyway).
"""

from __future__ import annotations

import html
from typing import Any, Final

from app.channels.base import Notice, Outcome

BODY_CHARS: Final = 1500
TARGET_CHARS: Final = 300


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(notice: Notice) -> str:
    """The lines that stay on the message after the decision (no body)."""
    esc = html.escape
    return "\n".join(
        [
            f"<b>Agent:</b> {esc(notice.agent_id)}",
            f"<b>Credential:</b> {esc(notice.credential_name)}",
            f"<b>Action:</b> <code>{esc(notice.method)} {esc(_clip(notice.target_url, TARGET_CHARS))}</code>",
        ]
    )


def approval_text(notice: Notice) -> str:
    esc = html.escape
    if notice.test:
        return (
            "<b>TAP test message</b>\n"
            f"Approval requests for channel <code>{esc(notice.channel_name)}</code> arrive here."
        )
    lines = ["<b>🔔 Approval needed</b>", summary(notice)]
    if notice.body_preview:
        lines.append(f"<b>Body:</b>\n<pre>{esc(_clip(notice.body_preview, BODY_CHARS))}</pre>")
    if notice.min_approvals > 1:
        lines.append(f"Requires {notice.min_approvals} approvals.")
    if notice.require_passkey:
        lines.append("Approving needs a passkey: use the button to open the approval page.")
    lines.append(f'<a href="{esc(notice.approve_url, quote=True)}">Review all details</a>')
    return "\n".join(lines)


def keyboard(notice: Notice) -> dict[str, Any]:
    txn = str(notice.txn_id)
    approve: dict[str, str] = (
        {"text": "🔐 Approve (passkey)", "url": notice.approve_url}
        if notice.require_passkey
        else {"text": "✅ Approve", "callback_data": f"approve:{txn}"}
    )
    return {"inline_keyboard": [[approve, {"text": "❌ Deny", "callback_data": f"deny:{txn}"}]]}


def outcome_text(outcome: Outcome) -> str:
    who = html.escape(outcome.decided_by or "")
    if outcome.status == "approved":
        return f"✅ APPROVED by {who}"
    if outcome.status == "denied":
        return f"❌ DENIED by {who}"
    return "⌛ EXPIRED: nobody decided in time"
