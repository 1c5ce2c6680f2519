"""What the bot writes: escaped, truncated, passkey requests not approvable in the room."""

from __future__ import annotations

import datetime as dt
import uuid

from app.channels.base import Notice, Outcome
from app.channels.matrix import message


def notice(**overrides: object) -> Notice:
    values: dict[str, object] = {
        "txn_id": uuid.uuid4(),
        "team_id": "default",
        "agent_id": "bot<script>",
        "credential_name": "github",
        "method": "POST",
        "target_url": "https://api.example.com/x?a=1&b=2",
        "body_preview": "x" * 2000,
        "require_passkey": False,
        "min_approvals": 1,
        "approve_url": "https://tap.example.test/approve/txn/1",
        "expires_at": dt.datetime.now(dt.UTC),
        "channel_name": "ops",
    }
    values.update(overrides)
    return Notice(**values)  # type: ignore[arg-type]


def test_values_are_escaped_and_the_body_is_cut() -> None:
    content = message.approval(notice())
    assert "bot&lt;script&gt;" in content["formatted_body"]
    assert "a=1&amp;b=2" in content["formatted_body"]
    assert "<script>" not in content["formatted_body"]
    assert "x" * message.MAX_BODY_CHARS + "…" in content["body"]
    assert "x" * (message.MAX_BODY_CHARS + 1) not in content["body"]
    assert "React ✅ or ❌" in content["body"]


def test_an_agents_text_cannot_ping_the_room() -> None:
    content = message.approval(notice(agent_id="@room", body_preview="@room @admin:hs"))
    assert content["m.mentions"] == {}
    assert message.edit("$m", "@room")["m.mentions"] == {}


def test_a_passkey_request_offers_only_deny_in_the_room() -> None:
    content = message.approval(notice(require_passkey=True, min_approvals=2))
    assert "✅" not in content["body"]
    assert "Approve with a passkey: https://tap.example.test/approve/txn/1" in content["body"]
    assert "Requires 2 approvals." in content["body"]


def test_an_edit_replaces_the_message() -> None:
    edit = message.edit("$m", message.outcome_line(Outcome("approved", "a@example.com")))
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$m"}
    assert edit["m.new_content"]["body"] == "✅ APPROVED by a@example.com"
    assert edit["body"] == "* ✅ APPROVED by a@example.com"
    assert message.outcome_line(Outcome("pending", None, 1, 2)).startswith("1/2 approved")
    assert message.outcome_line(Outcome("expired", None)).startswith("⌛ EXPIRED")
