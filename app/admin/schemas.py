"""The admin API's wire shapes: every request body, query string and response, as pydantic models.

Request models forbid unknown fields, so a typo is a 400 rather than a silent
no-op, and are strict, so a value of the wrong JSON type is a 400 rather than
coerced (``42`` is not the string ``"42"``, ``"true"`` is not ``true``). Text fields refuse NUL characters and lone surrogates (Postgres cannot
store either). The OpenAPI document at ``/openapi.json`` is generated from
these models, so the contract and the validation cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from app.audit_verify import BreakKind
from app.store.models import AuthType

MemberRoleName = Literal["owner", "admin", "approver"]

TEAM_NAME_PATTERN: Final = r"^[a-z0-9-]{3,64}$"
CODE_PATTERN: Final = r"^[0-9]{6}$"


def _safe_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        raise ValueError("expected an email address")
    if any(c.isspace() or ord(c) < 32 or c in '<>"(),;:[]\\' for c in value):
        raise ValueError("expected an email address")
    return value


ShortText = Annotated[str, StringConstraints(max_length=200), AfterValidator(_safe_text)]
LongText = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_safe_text)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_safe_text)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=254),
    AfterValidator(_safe_text),
    AfterValidator(_email),
]
Password = Annotated[
    str, StringConstraints(min_length=8, max_length=1024), AfterValidator(_safe_text)
]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=CODE_PATTERN)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_safe_text)]
SecretValue = Annotated[
    str, StringConstraints(min_length=1, max_length=65536), AfterValidator(_safe_text)
]


class RequestModel(BaseModel):
    """Base of every request body: unknown fields and wrong JSON types are refused.

    NOTE: a validation error never quotes what was sent (it may be a password
    or a credential value), and fields that carry one are left out of ``repr``.
    """

    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)


class QueryModel(BaseModel):
    """Base of every query string: unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore")


# Errors ---------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every error response: a stable ``error`` code and a human ``message``."""

    model_config = ConfigDict(extra="allow")

    error: str
    message: str


# Accounts -------------------------------------------------------------------------


class SignupBody(RequestModel):
    team_name: Annotated[str, StringConstraints(strip_whitespace=True, pattern=TEAM_NAME_PATTERN)]
    email: Email
    password: Password = Field(repr=False)


class SignupResult(BaseModel):
    user_id: str
    team_id: str
    team_name: str
    email: str
    email_verified: bool
    message: str
    email_error: str | None = None


class VerifyEmailBody(RequestModel):
    email: Email
    code: Code


class VerifyEmailResult(BaseModel):
    verified: bool
    user_id: str
    passkey_setup_token: str | None = None
    passkey_setup_expires_at: dt.datetime | None = None


class EmailBody(RequestModel):
    email: Email


class MessageResult(BaseModel):
    message: str


class LoginBody(RequestModel):
    email: Email
    password: Annotated[
        str, StringConstraints(min_length=1, max_length=1024), AfterValidator(_safe_text)
    ] = Field(repr=False)


class TeamRef(BaseModel):
    team_id: str
    team_name: str
    member_role: MemberRoleName


class LoginResult(BaseModel):
    session_token: str
    expires_at: dt.datetime
    user_id: str
    email: str
    team_id: str
    team_name: str
    member_role: MemberRoleName
    capabilities: list[str]
    teams: list[TeamRef]
    joined_teams: list[TeamRef]


class LogoutResult(BaseModel):
    logged_out: bool


class MeResult(BaseModel):
    id: str
    email: str
    display_name: str | None
    team_id: str
    team_name: str
    member_role: MemberRoleName
    capabilities: list[str]
    session_expires_at: dt.datetime


class TeamsResult(BaseModel):
    active_team_id: str
    teams: list[TeamRef]


class SwitchTeamBody(RequestModel):
    team_id: Name


class ResetPasswordBody(RequestModel):
    email: Email
    code: Code = Field(repr=False)
    password: Password = Field(repr=False)


# Team -----------------------------------------------------------------------------


class TeamResult(BaseModel):
    id: str
    name: str
    default_approval_mode: str
    created_at: dt.datetime
    member_role: MemberRoleName


class SettingsBody(RequestModel):
    default_approval_mode: Annotated[
        str, StringConstraints(max_length=32), AfterValidator(_safe_text)
    ] = Field(json_schema_extra={"examples": ["gated", "autonomous"]})


class SettingsResult(BaseModel):
    default_approval_mode: str


# Credentials ----------------------------------------------------------------------


class Binding(RequestModel):
    header: Annotated[
        str, StringConstraints(min_length=1, max_length=128), AfterValidator(_safe_text)
    ]
    format: Annotated[
        str, StringConstraints(min_length=1, max_length=1024), AfterValidator(_safe_text)
    ]


Host = Annotated[str, StringConstraints(max_length=253), AfterValidator(_safe_text)]
# A field is a string, or a short list of strings (an OAuth 2 value's "scopes"); each
# kind's own validation says which fields it takes and of which shape.
ValueObject = dict[
    Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_safe_text)],
    SecretValue | Annotated[list[ShortText], Field(max_length=64)],
]


class CredentialCreateBody(RequestModel):
    name: Name
    description: LongText = ""
    auth_type: AuthType = Field(
        default="api-key",
        description="The credential's kind; a structured kind takes value as a JSON object of its fields.",
    )
    api_base: ShortText | None = None
    relative_target: bool = False
    auth_header_format: ShortText | None = None
    auth_bindings: list[Binding] = Field(default_factory=list, max_length=16)
    allowed_hosts: list[Host] = Field(default_factory=list, max_length=64)
    # NOTE: strict, so "yes" or 1 cannot switch a safety off by accident.
    allow_http: StrictBool = Field(
        default=False,
        description="Send the secret over plain http:// too (off: https only).",
    )
    value: SecretValue | ValueObject | None = Field(default=None, repr=False)
    allow_unscannable_responses: StrictBool = False
    """Pass on responses that cannot be scanned for secrets (binary downloads) instead of
    withholding them; each use is recorded in the audit."""
    verify_url: ShortText | None = Field(
        default=None,
        description="A cheap documented GET that proves the credential works (for /verify).",
    )

    def destination_problem(self) -> str | None:
        """Why this credential may not be created as it stands, or None.

        NOTE: without allowed hosts (or a fixed api_base) an agent could send the
        secret to any public host; every surface (API, CLI) refuses it through here.
        """
        if not self.relative_target and not [h for h in self.allowed_hosts if h.strip()]:
            return "allowed_hosts is required unless the credential is relative_target"
        return None


class CredentialUpdateBody(RequestModel):
    description: LongText | None = None
    api_base: ShortText | None = None
    relative_target: bool | None = None
    auth_header_format: ShortText | None = None
    auth_bindings: list[Binding] | None = Field(default=None, max_length=16)
    allowed_hosts: list[Host] | None = Field(default=None, max_length=64)
    allow_unscannable_responses: StrictBool | None = None
    allow_http: StrictBool | None = None
    verify_url: ShortText | None = None


class CredentialSecretBody(RequestModel):
    value: SecretValue | ValueObject | None = Field(default=None, repr=False)
    value_patch: ValueObject | None = Field(default=None, repr=False)


class BindingOut(BaseModel):
    header: str
    format: str


class CredentialOut(BaseModel):
    name: str
    description: str
    auth_type: str
    connector: str
    api_base: str | None
    relative_target: bool
    auth_header_format: str | None
    auth_bindings: list[BindingOut]
    allowed_hosts: list[str]
    allow_http: bool
    has_value: bool
    value_hint: str | None
    allow_unscannable_responses: bool
    verify_url: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CredentialList(BaseModel):
    credentials: list[CredentialOut]


class CredentialCreated(BaseModel):
    name: str
    created: bool
    value_hint: str | None


class CredentialChanged(BaseModel):
    name: str
    updated: bool
    value_hint: str | None


class CredentialVerified(BaseModel):
    """What ``POST /team/credentials/{name}/verify`` found. Never a secret, never the upstream's body."""

    name: str
    kind: str
    check: str
    """What was tried: ``token_refresh`` for oauth2."""
    ok: bool
    error: str | None
    """When not ok: the upstream's error code (e.g. ``invalid_grant``) or TAP's own code."""


class Deleted(BaseModel):
    name: str
    deleted: bool


# Agents ---------------------------------------------------------------------------


class AgentCreateBody(RequestModel):
    id: Name
    description: LongText = ""
    roles: list[Name] = Field(default_factory=list, max_length=64)
    credentials: list[Name] = Field(default_factory=list, max_length=256)
    rate_limit_per_hour: int | None = Field(default=None, ge=1, le=10_000_000)
    all_credentials: bool = False


class AgentUpdateBody(RequestModel):
    """Change an agent's grants or limits; only the fields sent change (``rate_limit_per_hour``
    null clears the limit)."""

    description: LongText | None = None
    roles: list[Name] | None = Field(default=None, max_length=64)
    credentials: list[Name] | None = Field(default=None, max_length=256)
    rate_limit_per_hour: int | None = Field(default=None, ge=1, le=10_000_000)


class AgentOut(BaseModel):
    id: str
    description: str
    enabled: bool
    rate_limit_per_hour: int | None
    all_credentials: bool
    roles: list[str]
    credentials: list[str]
    effective_credentials: list[str]
    owner_user_id: str | None
    created_at: dt.datetime | None


class AgentList(BaseModel):
    agents: list[AgentOut]


class AgentKeyResult(BaseModel):
    id: str
    api_key: str
    message: str
    agent: AgentOut


class AgentState(BaseModel):
    id: str
    enabled: bool


# Roles ----------------------------------------------------------------------------


class RoleCreateBody(RequestModel):
    name: Name
    description: LongText = ""
    credentials: list[Name] = Field(default_factory=list, max_length=256)
    rate_limit_per_hour: int | None = Field(default=None, ge=1, le=10_000_000)


class RoleUpdateBody(RequestModel):
    """Change a role; only the fields sent change (``rate_limit_per_hour`` null clears the
    limit, ``credentials`` replaces the whole list)."""

    description: LongText | None = None
    credentials: list[Name] | None = Field(default=None, max_length=256)
    rate_limit_per_hour: int | None = Field(default=None, ge=1, le=10_000_000)


class RoleOut(BaseModel):
    name: str
    description: str
    rate_limit_per_hour: int | None
    credentials: list[str]


class RoleList(BaseModel):
    roles: list[RoleOut]


class CredentialRef(RequestModel):
    credential: Name


# Policies -------------------------------------------------------------------------

Method = Annotated[str, StringConstraints(min_length=1, max_length=16), AfterValidator(_safe_text)]
UrlPattern = Annotated[
    str, StringConstraints(min_length=1, max_length=512), AfterValidator(_safe_text)
]


class PolicyBody(RequestModel):
    auto_approve_methods: list[Method] = Field(default_factory=list, max_length=16)
    require_approval_methods: list[Method] = Field(default_factory=list, max_length=16)
    auto_approve_urls: list[UrlPattern] = Field(default_factory=list, max_length=128)
    require_approval_urls: list[UrlPattern] | None = Field(
        default=None,
        max_length=128,
        description="Omit to keep the stored list; send [] to clear it.",
    )
    allowed_approvers: list[Email] = Field(default_factory=list, max_length=128)
    approval_channel: ShortText | None = None
    telegram_chat_id: ShortText | None = None
    matrix_room_id: ShortText | None = None
    matrix_allowed_approvers: list[Email] = Field(default_factory=list, max_length=128)
    require_passkey: bool = False
    min_approvals: int = Field(default=1, le=100, description="Values below 1 count as 1.")


class PolicyOut(BaseModel):
    credential: str
    auto_approve_methods: list[str]
    require_approval_methods: list[str]
    auto_approve_urls: list[str]
    require_approval_urls: list[str]
    allowed_approvers: list[str]
    approval_channel: str | None
    telegram_chat_id: str | None
    matrix_room_id: str | None
    matrix_allowed_approvers: list[str]
    require_passkey: bool
    min_approvals: int


class PolicySet(BaseModel):
    credential: str
    policy_set: bool
    policy: PolicyOut


class PolicyCleared(BaseModel):
    credential: str
    policy_cleared: bool


# Audit ----------------------------------------------------------------------------


class AuditQuery(QueryModel):
    agent: Name | None = None
    credential: Name | None = None
    outcome: Name | None = None
    limit: int = Field(default=50, ge=1, le=200)
    before: Annotated[str, StringConstraints(max_length=100), AfterValidator(_safe_text)] | None = (
        Field(default=None, description="The next_before cursor of the previous page.")
    )


class AuditPage(BaseModel):
    entries: list[dict[str, Any]]
    next_before: str | None


class AuditKey(BaseModel):
    key_id: str = Field(description="First 16 hex digits of the SHA-256 of the public key.")
    public_key: str = Field(description="The raw 32-byte Ed25519 public key, base64.")


class AuditPublicKey(AuditKey):
    algorithm: Literal["Ed25519"]
    trusted_keys: list[AuditKey] = Field(
        description="Earlier keys (TAP_AUDIT_TRUSTED_KEYS) whose checkpoints still verify."
    )


class AuditBreak(BaseModel):
    record: int = Field(description="1-based position of the record where the chain breaks.")
    kind: BreakKind
    detail: str


class AuditVerification(BaseModel):
    valid: bool
    records: int
    checkpoints: int
    signed_records: int = Field(description="Records covered by the last checkpoint.")
    head: str | None = Field(description="Hash of the last record (hex); null when broken.")
    broken: AuditBreak | None


# Members and invites --------------------------------------------------------------


class MemberOut(BaseModel):
    id: str
    email: str
    display_name: str | None
    member_role: MemberRoleName
    is_owner: bool
    created_at: dt.datetime


class InviteOut(BaseModel):
    id: str
    email: str
    member_role: MemberRoleName
    expires_at: dt.datetime
    created_at: dt.datetime


class PendingInvite(BaseModel):
    """An invite addressed to the signed-in account, waiting for its accept."""

    id: str
    team_id: str
    team_name: str
    member_role: MemberRoleName
    expires_at: dt.datetime
    created_at: dt.datetime


class PendingInviteList(BaseModel):
    invites: list[PendingInvite]


class MemberList(BaseModel):
    members: list[MemberOut]
    pending_invites: list[InviteOut]


class InviteBody(RequestModel):
    email: Email
    role: MemberRoleName = "approver"


class InviteResult(BaseModel):
    invite_id: str
    email: str
    member_role: MemberRoleName
    expires_at: dt.datetime
    email_sent: bool
    accept_url: str | None = Field(
        default=None,
        description="Returned only when no email was sent, so the link can be shared by hand.",
    )


class AcceptInviteBody(RequestModel):
    token: Token = Field(repr=False)
    password: Password = Field(repr=False)


class InviteInfoQuery(QueryModel):
    token: Token


class InviteInfo(BaseModel):
    email: str
    team_name: str
    member_role: MemberRoleName
    expires_at: dt.datetime
    next_step: Literal["create_account", "login_to_accept", "already_member"]


class RoleBody(RequestModel):
    role: MemberRoleName


class MemberRoleResult(BaseModel):
    id: str
    member_role: MemberRoleName


class Removed(BaseModel):
    id: str
    removed: bool


class AssignBody(RequestModel):
    credential_name: Name


class Assignments(BaseModel):
    id: str
    credentials: list[str]


# Approvals ------------------------------------------------------------------------


class ApprovalWarningOut(BaseModel):
    code: str
    message: str


class ApprovalOut(BaseModel):
    """A pending request as approvers see it: everything that will be sent, secrets masked."""

    txn_id: str
    agent_id: str
    mode: Literal["unified", "placeholder"]
    credential_name: str
    """The credentials used, comma-separated."""
    credential_names: list[str]
    method: str
    target_url: str
    headers: list[tuple[str, str]]
    """Every header that will go upstream, in order; credential-bearing values masked."""
    body_preview: str | None
    """The first 4 KiB of the body: text, or base64 when the body is not safe to show as text."""
    body_encoding: Literal["utf-8", "base64"] | None
    body_truncated: bool
    body_size: int
    body_sha256: str
    warnings: list[ApprovalWarningOut]
    require_passkey: bool
    min_approvals: int
    approvals: int
    approved_by: list[str] = Field(default_factory=list)
    """Who has already voted to approve, earliest first."""
    created_at: dt.datetime
    expires_at: dt.datetime


class ApprovalList(BaseModel):
    approvals: list[ApprovalOut]


class VoteOut(BaseModel):
    txn_id: str
    decision: Literal["approve", "deny"]
    status: str
    approvals: int
    needed: int


class PolicyTestBody(RequestModel):
    """A request to judge: what an agent would send as ``X-TAP-Method`` and ``X-TAP-Target``."""

    method: Method
    target: Annotated[
        str, StringConstraints(min_length=1, max_length=8192), AfterValidator(_safe_text)
    ]


class PolicyTestResult(BaseModel):
    credential: str
    method: str
    target: str
    """The effective URL the policy judged (a relative target resolved against ``api_base``)."""
    outcome: Literal["runs_at_once", "waits_for_human", "refused"]
    needs_approval: bool
    reason: str
    """The stable reason code, as recorded in the audit's ``policy_reason`` (or the error code
    when the request would be refused before the policy runs)."""
    rule: str
    """Which rule decided, in words."""
    matched: str | None
    """The pattern or method of the policy that decided, when one did."""
    require_passkey: bool
    min_approvals: int
    policy_present: bool


class AuditExportQuery(QueryModel):
    format: Literal["jsonl", "csv"] = "jsonl"
    agent: Name | None = None
    credential: Name | None = None
    outcome: Name | None = None


# Notification channels ------------------------------------------------------------


class ChannelCreateBody(RequestModel):
    channel_type: Literal["telegram", "matrix", "dashboard", "agent_reflected"]
    name: Name
    config: dict[
        Annotated[str, StringConstraints(max_length=64), AfterValidator(_safe_text)], ShortText
    ] = Field(default_factory=dict, max_length=8, repr=False)
    enabled: bool = True


class ChannelOut(BaseModel):
    id: str
    channel_type: str
    name: str
    config: dict[str, Any]
    enabled: bool
    is_default: bool
    created_at: dt.datetime


class ChannelList(BaseModel):
    channels: list[ChannelOut]


class ChannelDefault(BaseModel):
    name: str
    is_default: bool
