"""Where a parked request is announced: one decision, made when it is parked.

Order (the reference's, with its silent fall-through closed):

1. the policy's ``approval_channel`` (``app`` means ``agent_reflected``);
2. else the team's default channel (its first enabled row);
3. else the dashboard.

A chat channel this deployment has not wired, or one with nowhere to post
(no chat id / room id anywhere), falls back to the **dashboard**, never to
silence, and the 202 says so (``notification_fallback``). The dashboard's
web push is sent alongside any channel but agent-reflected (whose requests
are shown to the agent's own user), so the same request can be decided from
the chat or the dashboard, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from app.channels import registry
from app.config import Config
from app.store.channels import Channel
from app.store.models import Policy

DASHBOARD: Final = "dashboard"
AGENT_REFLECTED: Final = "agent_reflected"
PUSH: Final = "push"
_ALIASES: Final = {"app": AGENT_REFLECTED}
# The per-credential destination a policy may set, by channel kind.
_POLICY_DESTINATION: Final = {"telegram": "chat_id", "matrix": "room_id"}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row to write: which channel, under which name, to where."""

    kind: str
    channel_name: str
    destination: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Route:
    channel: str
    """What the 202 names as ``notification_channel``."""
    requested: str | None
    """What the policy or the team asked for, before any fallback."""
    fallback_reason: str | None
    """Why ``channel`` differs from ``requested`` (``telegram_not_configured``...)."""
    deliveries: tuple[Delivery, ...]


def _policy_destination(kind: str, policy: Policy | None) -> dict[str, Any]:
    key = _POLICY_DESTINATION.get(kind)
    value = getattr(policy, f"{kind}_{key}", None) if key and policy else None
    return {key: value} if key and value else {}


def choose(config: Config, policy: Policy | None, rows: Sequence[Channel]) -> Route:
    """The route of a request under ``policy`` in a team with channel ``rows`` (priority order)."""
    enabled = [row for row in rows if row.enabled]
    from_policy = policy.approval_channel if policy else None
    requested = _ALIASES.get(from_policy, from_policy) if from_policy else None
    row: Channel | None = None
    if requested is None and enabled:
        row = enabled[0]
        requested = row.channel_type
    elif requested is not None:
        row = next((r for r in enabled if r.channel_type == requested), None)
    push = _push(config)
    if requested is None or requested == DASHBOARD:
        return Route(DASHBOARD, requested, None, push)
    if requested == AGENT_REFLECTED:
        return Route(AGENT_REFLECTED, requested, None, ())
    spec = registry.spec(requested)
    if spec is None or not spec.wired(config):
        return Route(DASHBOARD, requested, f"{requested}_not_configured", push)
    wanted = {**(row.config if row else {}), **_policy_destination(requested, policy)}
    destination = spec.destination(config, wanted)
    if destination is None:
        return Route(DASHBOARD, requested, f"{requested}_has_no_destination", push)
    chat = Delivery(requested, row.name if row else requested, destination)
    return Route(requested, requested, None, (chat, *push))


def _push(config: Config) -> tuple[Delivery, ...]:
    spec = registry.spec(PUSH)
    if spec is None or not spec.wired(config):
        return ()
    return (Delivery(PUSH, DASHBOARD, {}),)
