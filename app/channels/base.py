"""The one interface every approval channel implements, and the values it exchanges.

A channel (web push, Telegram, Matrix, ...) does three things:

1. :meth:`ApprovalChannel.deliver` a :class:`Notice` about a parked request
   and answer a JSON-able :data:`MessageRef` (chat id + message id, room id +
   event id, ...). The outbox stores it so that *any* replica can later
   update the message; ``None`` means there is nothing to update.
2. :meth:`ApprovalChannel.resolve` a delivered message once the request is
   decided anywhere (another channel, the API, the dashboard, another
   replica): edit it to say who decided and remove its buttons.
3. Optionally run background work (a long-poll or sync loop) between
   :meth:`ApprovalChannel.start` and :meth:`ApprovalChannel.stop`, and turn
   inbound events into decisions through :mod:`app.channels.deciding` (the
   one place that maps an external user to a member and applies the
   eligibility rules; a channel never calls the state machine itself).

Channels are listed once in :mod:`app.channels.registry`; the
:class:`~app.channels.hub.ChannelHub` builds the wired ones at start-up,
starts and stops them with the app, and runs the outbox dispatcher.

A delivery that fails raises :class:`DeliveryFailed`; the dispatcher retries
with back-off unless ``permanent`` is set. Nothing a channel raises ever
reaches the agent's request: delivery happens after the 202 is sent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    import aiohttp
    import asyncpg
    from quart import Blueprint

    from app.config import Config

MessageRef: TypeAlias = dict[str, Any]
"""Where a delivered message lives, as plain JSON (stored in the outbox row)."""

OutcomeStatus = Literal["pending", "approved", "denied", "expired"]


@dataclass(frozen=True, slots=True)
class Notice:
    """Everything a channel may show about a parked request. Never holds a secret.

    ``target_url`` is the effective target as the agent sent it (before any
    secret is injected); ``body_preview`` is the masked preview the approve
    page shows, or None. ``approve_url`` is the passkey-capable approve page.
    """

    txn_id: uuid.UUID
    team_id: str
    agent_id: str
    credential_name: str
    method: str
    target_url: str
    body_preview: str | None
    require_passkey: bool
    min_approvals: int
    approve_url: str
    expires_at: dt.datetime
    channel_name: str
    """The team's channel row this notice goes to (``dashboard`` for the built-in default)."""
    channel_config: dict[str, Any] = field(default_factory=dict)
    """That row's config (``chat_id``, ``room_id``, ...); empty for the built-in default."""
    credential_names: tuple[str, ...] = ()
    """Every credential the request uses (``credential_name`` joins them for display)."""
    allowed_approvers: tuple[str, ...] = ()
    """The policy's approver emails, empty for "whoever the role rules allow"."""
    test: bool = False
    """A test message from ``POST /team/notification-channels/{name}/test``: no buttons."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a request, to show on every message that announced it."""

    status: OutcomeStatus
    decided_by: str | None
    """The member's email (or ``operator``), None for an expiry."""
    approvals: int = 0
    needed: int = 1


@dataclass(frozen=True, slots=True)
class ChannelDeps:
    """What the hub hands a channel when it builds it."""

    config: Config
    pool: asyncpg.Pool
    http: aiohttp.ClientSession
    """For operator-configured services (Bot API, homeserver): plain, no SSRF guard."""
    guarded_http: aiohttp.ClientSession
    """For addresses users supply (push endpoints): the SSRF-guarded upstream session."""


class DeliveryFailed(Exception):  # noqa: N818 - a channel outcome the dispatcher handles
    """A delivery or update did not go through. The message names no secret."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class ApprovalChannel(Protocol):
    """A place people hear about pending requests and, for chats, decide them."""

    kind: ClassVar[str]
    """The ``channel_type`` of team rows this channel serves (``telegram``, ``matrix``...)."""

    async def start(self) -> None:
        """Start background work (sync loops, webhook registration). Must not block long."""

    async def stop(self) -> None:
        """Stop background work; called once at shutdown."""

    async def deliver(self, notice: Notice) -> MessageRef | None:
        """Send ``notice``; the reference to update later, or None. Raises DeliveryFailed."""

    async def resolve(self, ref: MessageRef, outcome: Outcome) -> None:
        """Show ``outcome`` on the message at ``ref`` and remove its buttons. Raises DeliveryFailed."""


@dataclass(frozen=True, slots=True)
class LinkInstructions:
    """How a person sends their link code to the bot, as ``POST /user/identities/{kind}`` shows it."""

    instructions: str
    deep_link: str | None = None
    """A link that opens the chat with the code filled in (Telegram ``t.me/<bot>?start=<code>``)."""
    bot: str | None = None
    """The bot's account to write to (a Matrix user id), when there is no deep link."""


@runtime_checkable
class LinksIdentities(Protocol):
    """A chat channel whose accounts people link with a code (every chat channel)."""

    kind: ClassVar[str]

    async def link_instructions(self, code: str) -> LinkInstructions:
        """Tell the person how to send ``code``. Raises DeliveryFailed if the service is down."""


def keep_destination(_config: Config, destination: dict[str, Any]) -> dict[str, Any] | None:
    """The default :attr:`ChannelSpec.destination`: deliver where the row (or policy) says."""
    return destination


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One line of the registry: when a channel is wired, how to build it, what it serves."""

    kind: str
    """The ``channel_type`` it serves; ``push`` for the dashboard's web push."""
    wired: Callable[[Config], bool]
    """Whether this deployment configured it (token, keys); routing skips unwired channels."""
    build: Callable[[ChannelDeps], ApprovalChannel]
    """Called once per worker when ``wired``."""
    destination: Callable[[Config, dict[str, Any]], dict[str, Any] | None] = keep_destination
    """Given the team row's config overlaid with the policy's (``chat_id``, ``room_id``),
    where to deliver, with deployment defaults filled in; None when there is nowhere
    (the request then falls back to the dashboard)."""
    blueprint: Blueprint | None = None
    """Routes the channel serves (webhooks); registered whether or not it is wired."""
