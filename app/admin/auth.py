"""Who is calling the admin API, and what their team role lets them do.

:func:`authenticate` is the guard every session endpoint calls first:

1. an agent key (``X-TAP-Key``, or a ``tap_`` bearer) is refused outright;
   agents never manage a team and never approve anything;
2. ``Authorization: Bearer <64 hex>`` is hashed and looked up; the lookup
   joins the membership, so a removed member's session is dead at once;
3. the session's scope must be one the endpoint accepts (``setup`` sessions,
   minted after email verification for passkey enrolment, reach nothing else);
4. the account's email must be verified.

The permission matrix is :data:`CAPABILITIES`: owners and admins manage
everything; approvers see and approve only credentials assigned to them and
manage only their own agent keys.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from quart import request

from app.admin import client
from app.crypto import new_token
from app.errors import (
    AgentKeyRefused,
    EmailNotVerified,
    PermissionDenied,
    SessionScopeDenied,
    Unauthenticated,
)
from app.store import sessions
from app.store.db import Conn
from app.store.sessions import Scope, SessionView
from app.webstate import runtime

SESSION_TTL: Final = dt.timedelta(hours=24)
SETUP_SESSION_TTL: Final = dt.timedelta(minutes=10)
_TTLS: Final[dict[Scope, dt.timedelta]] = {"full": SESSION_TTL, "setup": SETUP_SESSION_TTL}
_TOKEN: Final = re.compile(r"^[0-9a-f]{64}$")

MANAGER_CAPABILITIES: Final = frozenset(
    {
        "view_team",
        "approve_requests",
        "manage_credentials",
        "manage_agents",
        "manage_roles",
        "manage_policies",
        "manage_channels",
        "manage_settings",
        "manage_members",
        "invite_members",
        "view_audit",
    }
)
CAPABILITIES: Final[dict[str, frozenset[str]]] = {
    "owner": MANAGER_CAPABILITIES | {"change_member_roles", "invite_owners"},
    "admin": MANAGER_CAPABILITIES,
    "approver": frozenset(
        {"view_team", "approve_requests", "view_assigned_credentials", "manage_own_agents"}
    ),
}


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated person acting in their session's active team."""

    session: SessionView

    @property
    def user_id(self) -> str:
        return self.session.user_id

    @property
    def email(self) -> str:
        return self.session.email

    @property
    def team_id(self) -> str:
        return self.session.team_id

    @property
    def role(self) -> str:
        return self.session.member_role

    @property
    def capabilities(self) -> frozenset[str]:
        return CAPABILITIES.get(self.role, frozenset())

    @property
    def is_manager(self) -> bool:
        return self.role in ("owner", "admin")

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    def require(self, capability: str) -> None:
        """Raises PermissionDenied unless the caller's role grants ``capability``."""
        if not self.can(capability):
            raise PermissionDenied(
                "Only owners and admins can do this."
                if capability in MANAGER_CAPABILITIES
                else "You may not do this.",
                capability=capability,
            )


def bearer_token() -> str | None:
    """The bearer token of the request, or None. Raises AgentKeyRefused for agent keys."""
    if "X-TAP-Key" in request.headers:
        raise AgentKeyRefused("agent keys cannot use the admin API")
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    token = token.strip()
    if token.startswith("tap_"):
        raise AgentKeyRefused("agent keys cannot use the admin API")
    return token


_FULL_ONLY: Final[tuple[Scope, ...]] = ("full",)


async def authenticate(scopes: Collection[Scope] = _FULL_ONLY) -> Caller:
    """The caller of this request. Raises AgentKeyRefused, Unauthenticated, SessionScopeDenied, EmailNotVerified."""
    token = bearer_token()
    if token is None:
        raise Unauthenticated("sign in and send Authorization: Bearer <session token>")
    if not _TOKEN.match(token):
        raise Unauthenticated("the session is invalid or has expired")
    state = runtime()
    view = await sessions.resolve(state.pool, state.keys.hash_token(token))
    if view is None:
        raise Unauthenticated("the session is invalid or has expired")
    if view.scope not in scopes:
        raise SessionScopeDenied("this session may only be used to set up a passkey")
    if not view.email_verified:
        raise EmailNotVerified("verify your email address first", unverified=True)
    return Caller(view)


def client_address() -> str:
    """The client address used for per-client throttles.

    NOTE: ``X-Forwarded-For`` counts only through ``TAP_TRUSTED_PROXIES``
    (see :mod:`app.admin.client`): an untrusted client choosing it would get a
    fresh address for every guess.
    """
    return client.resolve(
        request.remote_addr,
        request.headers.getlist("X-Forwarded-For"),
        runtime().config.trusted_proxies,
    )


def issue_token() -> str:
    """A fresh session token (returned once to the client, stored only as a hash)."""
    return new_token()


async def start_session(
    conn: Conn, *, user_id: str, team_id: str, scope: Scope
) -> tuple[str, dt.datetime]:
    """A new session of ``user_id`` in ``team_id``: its token and its expiry.

    A ``full`` session lasts :data:`SESSION_TTL`, a ``setup`` session
    :data:`SETUP_SESSION_TTL`. Only the token's keyed hash is stored.
    """
    token = issue_token()
    expires_at = await sessions.create(
        conn,
        token_hash=runtime().keys.hash_token(token),
        user_id=user_id,
        team_id=team_id,
        scope=scope,
        ttl=_TTLS[scope],
    )
    return token, expires_at
