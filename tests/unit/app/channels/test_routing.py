"""Routing: policy, then the team's default, then the dashboard; never silence."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from app.channels.routing import Delivery, Route, choose
from app.config import Config
from app.store.channels import Channel, ChannelType
from app.store.models import Policy

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PUSH = Delivery("push", "dashboard", {})
_BASE = {"TAP_ENCRYPTION_KEY": "5f" * 32}
TELEGRAM = {"TELEGRAM_BOT_TOKEN": "1:abc"}
VAPID = {"TAP_VAPID_PRIVATE_KEY": "a", "TAP_VAPID_PUBLIC_KEY": "b"}


def config(**env: str) -> Config:
    return Config.from_env({**_BASE, **env})


def policy(**fields: Any) -> Policy:
    return Policy(team_id="t", credential_name="demo", **fields)


def row(channel_type: ChannelType, name: str, enabled: bool = True, **conf: str) -> Channel:
    return Channel(
        id=f"ch_{name}",
        team_id="t",
        channel_type=channel_type,
        name=name,
        config=conf,
        enabled=enabled,
        priority=1000,
        created_at=NOW,
    )


@pytest.mark.parametrize(
    ("env", "pol", "rows", "expected"),
    [
        # Nothing configured anywhere: the dashboard, with push when keys exist.
        ({}, None, [], Route("dashboard", None, None, ())),
        (VAPID, None, [], Route("dashboard", None, None, (PUSH,))),
        # The policy wins over the team's default.
        (
            {**TELEGRAM, **VAPID},
            policy(approval_channel="telegram", telegram_chat_id="-5"),
            [row("dashboard", "dash")],
            Route(
                "telegram",
                "telegram",
                None,
                (Delivery("telegram", "telegram", {"chat_id": "-5"}), PUSH),
            ),
        ),
        # The team's default (first enabled row) when the policy names none.
        (
            TELEGRAM,
            policy(),
            [
                row("telegram", "off", enabled=False, chat_id="-1"),
                row("telegram", "ops", chat_id="-2"),
            ],
            Route("telegram", "telegram", None, (Delivery("telegram", "ops", {"chat_id": "-2"}),)),
        ),
        # The policy's chat id overrides the row's; the global chat fills in for neither.
        (
            {**TELEGRAM, "TELEGRAM_CHAT_ID": "-9"},
            policy(approval_channel="telegram"),
            [],
            Route(
                "telegram", "telegram", None, (Delivery("telegram", "telegram", {"chat_id": "-9"}),)
            ),
        ),
        # A channel this TAP has not wired falls back to the dashboard and says why.
        (
            VAPID,
            policy(approval_channel="telegram"),
            [],
            Route("dashboard", "telegram", "telegram_not_configured", (PUSH,)),
        ),
        (
            {},
            policy(),
            [row("matrix", "room", room_id="!r:hs")],
            Route("dashboard", "matrix", "matrix_not_configured", ()),
        ),
        # Wired, but nowhere to post.
        (
            TELEGRAM,
            policy(approval_channel="telegram"),
            [],
            Route("dashboard", "telegram", "telegram_has_no_destination", ()),
        ),
        # Agent-reflected (and its alias "app") notifies nobody else.
        (
            VAPID,
            policy(approval_channel="app"),
            [],
            Route("agent_reflected", "agent_reflected", None, ()),
        ),
        (
            VAPID,
            policy(),
            [row("agent_reflected", "agent")],
            Route("agent_reflected", "agent_reflected", None, ()),
        ),
    ],
)
def test_choose(
    env: dict[str, str], pol: Policy | None, rows: list[Channel], expected: Route
) -> None:
    assert choose(config(**env), pol, rows) == expected
