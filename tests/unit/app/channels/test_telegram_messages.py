"""The Telegram message: escaped, clipped, and the right buttons for the request."""

from __future__ import annotations

import datetime as dt
import uuid

from app.channels.base import Notice, Outcome
from app.channels.telegram.messages import BODY_CHARS, approval_text, keyboard, outcome_text

TXN = uuid.UUID("12345678-1234-5678-1234-567812345678")


def notice(**overrides: object) -> Notice:
    fields: dict[str, object] = {
        "txn_id": TXN,
        "team_id": "t",
        "agent_id": "bot<script>",
        "credential_name": "demo",
        "method": "POST",
        "target_url": "https://api.example.com/pay?a=1&b=<2>",
        "body_preview": '{"x": "</pre><b>"}',
        "require_passkey": False,
        "min_approvals": 1,
        "approve_url": f"https://tap.example.com/approve/txn/{TXN}",
        "expires_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "channel_name": "ops",
    }
    fields.update(overrides)
    return Notice(**fields)  # type: ignore[arg-type]


def test_everything_shown_is_html_escaped() -> None:
    text = approval_text(notice())
    assert "bot&lt;script&gt;" in text
    assert "a=1&amp;b=&lt;2&gt;" in text
    assert "&lt;/pre&gt;&lt;b&gt;" in text
    assert "<script>" not in text


def test_a_long_body_is_clipped() -> None:
    text = approval_text(notice(body_preview="x" * 5000))
    assert "x" * BODY_CHARS not in text
    assert "x" * (BODY_CHARS - 1) + "…" in text


def test_quorum_is_announced() -> None:
    assert "Requires 3 approvals." in approval_text(notice(min_approvals=3))
    assert "Requires" not in approval_text(notice())


def test_buttons_and_the_passkey_link() -> None:
    plain = keyboard(notice())["inline_keyboard"][0]
    assert [b["callback_data"] for b in plain] == [f"approve:{TXN}", f"deny:{TXN}"]
    passkey = keyboard(notice(require_passkey=True))["inline_keyboard"][0]
    assert passkey[0] == {
        "text": "🔐 Approve (passkey)",
        "url": f"https://tap.example.com/approve/txn/{TXN}",
    }
    assert passkey[1]["callback_data"] == f"deny:{TXN}"


def test_outcomes() -> None:
    assert (
        outcome_text(Outcome("approved", "a<b>@example.com"))
        == "✅ APPROVED by a&lt;b&gt;@example.com"
    )
    assert outcome_text(Outcome("denied", "x@example.com")) == "❌ DENIED by x@example.com"
    assert "EXPIRED" in outcome_text(Outcome("expired", None))
