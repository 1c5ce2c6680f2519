"""The rows the rest of the service works with, as frozen dataclasses.

Store modules build these from database records; pipeline stages and the admin
API read them. None of them carries a plaintext credential value: values stay
sealed until :mod:`app.proxy.inject` opens them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

ApprovalMode = Literal["gated", "autonomous"]
APPROVAL_MODES: tuple[ApprovalMode, ...] = ("gated", "autonomous")

AuthMode = Literal["auto", "bearer", "oauth1"]
"""``X-TAP-Auth-Mode``, canonical: which scheme an oauth1 credential with a bearer token uses."""

AuthType = Literal["api-key", "basic", "custom", "oauth1", "aws-sigv4", "oauth2", "sidecar"]
AUTH_TYPES: tuple[AuthType, ...] = (
    "api-key",
    "basic",
    "custom",
    "oauth1",
    "aws-sigv4",
    "oauth2",
    "sidecar",
)
"""The kinds of :mod:`app.credential_kinds`, in its order (a unit test holds them equal)."""


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    name: str
    default_approval_mode: ApprovalMode
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AuthBinding:
    """One injected header: ``header`` gets ``format`` rendered against the value."""

    header: str
    format: str


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential's configuration. The value itself stays sealed in ``sealed_value``."""

    team_id: str
    name: str
    description: str
    auth_type: AuthType
    connector: str
    """``direct`` (TAP injects) or ``sidecar`` (a helper service does)."""
    api_base: str | None
    relative_target: bool
    """Targets are paths under ``api_base``; they can never leave it."""
    auth_header_format: str | None
    """Template for ``Authorization``, e.g. ``Bearer {value}``."""
    auth_bindings: tuple[AuthBinding, ...]
    allowed_hosts: tuple[str, ...]
    """Lowercase hosts or ``*.suffix`` patterns; empty means unrestricted."""
    allow_http: bool
    """The secret may be sent over plain ``http://`` (off: https only)."""
    sealed_value: bytes | None
    key_version: int
    value_hint: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    allow_unscannable_responses: bool = False
    """Pass on responses TAP cannot scan (audited) instead of withholding them."""
    verify_url: str | None = None
    """A cheap documented GET (a URL, or a path for relative credentials) that verify calls."""


@dataclass(frozen=True, slots=True)
class Policy:
    """A credential's approval policy. Lists are upper-case methods or URL patterns."""

    team_id: str
    credential_name: str
    auto_approve_methods: tuple[str, ...] = ()
    require_approval_methods: tuple[str, ...] = ()
    auto_approve_urls: tuple[str, ...] = ()
    require_approval_urls: tuple[str, ...] = ()
    allowed_approvers: tuple[str, ...] = ()
    approval_channel: str | None = None
    telegram_chat_id: str | None = None
    matrix_room_id: str | None = None
    matrix_allowed_approvers: tuple[str, ...] = ()
    require_passkey: bool = False
    min_approvals: int = 1


@dataclass(frozen=True, slots=True)
class Role:
    team_id: str
    name: str
    description: str
    rate_limit_per_hour: int | None
    credentials: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Agent:
    team_id: str
    id: str
    description: str
    enabled: bool
    rate_limit_per_hour: int | None
    all_credentials: bool
    roles: tuple[str, ...] = ()
    direct_credentials: tuple[str, ...] = ()
    effective_credentials: frozenset[str] = field(default_factory=frozenset)
    """Direct grants plus the credentials of every role (all team credentials if ``all_credentials``),
    narrowed to what the key's owning member may reach now (see :mod:`app.store.agents`)."""
    owner_user_id: str | None = None
    created_at: dt.datetime | None = None
    disabled_by: str | None = None
    """The user who disabled the key, if one did."""
    disabled_by_manager: bool = False
    """An owner or admin disabled the key: only an owner or admin may re-enable it."""
