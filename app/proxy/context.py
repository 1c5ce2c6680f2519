"""The one object that carries a ``/forward`` request through every stage.

Each field says which stage sets it. Stages read earlier fields, never the raw
Quart request; only :mod:`app.proxy.headers` looks at what the agent sent.

NOTE: a context carries the agent's key, its headers and, after injection, the
credential's secrets. Its ``repr`` shows identifiers only (no header value, no
body, no key), and the fields that hold secret text are masking types
(:class:`~app.secret.Secret`, :class:`~app.secret.SecretPairs`), so a
traceback, a log line or a debugger print of a request never shows a secret.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.audit_record import AuditRecord, body_for_audit, headers_for_audit
from app.runtime import Runtime
from app.secret import Secret, SecretPairs
from app.store.models import Agent, AuthMode, Credential, Policy

if TYPE_CHECKING:
    from app.proxy.sanitize import Sanitizer
    from app.proxy.stream import UpstreamStream


@dataclass(slots=True, repr=False)
class ForwardContext:
    rt: Runtime
    """The worker's pool, keys, caches and upstream session (handler)."""
    request_id: uuid.UUID
    """Set by the handler; also the approval ``txn_id``."""
    started: float
    """``time.perf_counter()`` at arrival, for latencies."""
    raw_headers: Sequence[tuple[str, str]]
    """Every header as received (handler); holds the agent's key."""
    body: bytes
    """The request body as received (handler)."""
    may_stream: bool = False
    """The answer may be relayed as it arrives (the ``/forward`` handler). An approved
    request's answer is stored for the agent to poll, so it is always read whole."""

    # headers stage
    api_key: Secret = field(default_factory=lambda: Secret(""))
    """The agent's key (or comma-separated keys) from ``X-TAP-Key``."""
    credential_name: str | None = None
    """``X-TAP-Credential``; ``None`` selects placeholder mode."""
    raw_target: str = ""
    method: str = "GET"
    """Upper-cased ``X-TAP-Method``."""
    forward_headers: list[tuple[str, str]] = field(default_factory=list)
    """What the agent asked to send upstream: no ``X-TAP-*``, no hop-by-hop headers."""
    placeholder_names: list[str] = field(default_factory=list)
    """Placeholder mode: the credentials referenced, in order."""
    auth_mode: AuthMode = "auto"
    """``X-TAP-Auth-Mode``, canonical: which scheme an oauth1 credential with a bearer token uses."""

    # agent stage
    agents: list[Agent] = field(default_factory=list)
    """Every enabled agent the key list names, in order; the first is the primary."""
    agent: Agent | None = None
    """The primary agent; the access stage replaces it with the serving agent."""

    # access stage
    credentials: list[Credential] = field(default_factory=list)
    """The credentials this request uses (one in unified mode)."""
    policies: dict[str, Policy | None] = field(default_factory=dict)
    team_mode: str = "gated"

    # target stage
    target_url: str = ""
    """The effective absolute URL TAP will call."""
    target_host: str = ""
    target_port: int = 0
    display_target: str = ""
    """What policy URL patterns match against (the target as the agent sent it)."""

    # policy stage
    needs_approval: bool = False
    policy_reason: str = ""
    require_passkey: bool = False

    # inject stage
    upstream_headers: SecretPairs = field(default_factory=SecretPairs)
    """What goes upstream: the agent's headers with the credential put in."""
    secrets: SecretPairs = field(default_factory=SecretPairs)
    """``(label, secret text)`` pairs injected; the sanitizer scrubs each."""
    oauth2_token: Secret | None = None
    """The OAuth 2 access token injected (inject); the forward stage replaces it once on a 401."""

    # forward stage
    upstream_status: int | None = None
    upstream_headers_out: list[tuple[str, str]] = field(default_factory=list)
    upstream_body: bytes = b""
    """Decoded from its ``Content-Encoding``, unless ``upstream_unscannable`` says why not."""
    upstream_unscannable: str | None = None
    """Why the body could not be decoded for scanning (forward); ``None`` when it could."""
    upstream_latency_ms: int | None = None
    upstream_stream: UpstreamStream | None = None
    """A streamed response still arriving; its body is relayed after the pipeline (forward)."""
    response_too_large: bool = False
    """The upstream answer passed the size limit and was cut."""

    # sanitize stage
    response_sanitized: bool = False
    response_withheld: bool = False
    response_unscannable: str | None = None
    """Why the body could not be scanned, when it could not (sanitize)."""
    response_unscannable_allowed: bool = False
    """An unscannable body was passed on under the credentials' opt-out (sanitize)."""
    stream_sanitizer: Sanitizer | None = None
    """What scrubs ``upstream_stream`` as it is relayed (sanitize)."""

    # outcome (handler)
    outcome: str = "error"
    error_code: str | None = None
    approval_status: str | None = None
    approver_identity: str | None = None
    approval_latency_ms: int | None = None
    signed_targets: tuple[str, ...] = ()
    """The effective URLs that passkey approvals of this request signed (executor)."""
    evidence_sha256: str | None = None
    """Digest of the request's passkey evidence, as published; audited (executor)."""
    """From parking to the decision (executor), for approved, denied and expired requests."""

    def __repr__(self) -> str:
        agent = self.agent.id if self.agent is not None else None
        return (
            f"ForwardContext(request_id={str(self.request_id)!r}, agent={agent!r}, "
            f"method={self.method!r}, host={self.target_host or None!r}, "
            f"credentials={[c.name for c in self.credentials] or self.placeholder_names!r}, "
            f"outcome={self.outcome!r}, error={self.error_code!r})"
        )

    def __str__(self) -> str:
        return repr(self)

    @property
    def team_id(self) -> str:
        assert self.agent is not None
        return self.agent.team_id

    def audit_entry(self, *, now_iso: str, latency_ms: int) -> AuditRecord:
        """The audit record of this request's outcome. Never holds an injected secret."""
        body, truncated = body_for_audit(self.body)
        assert self.agent is not None
        return {
            "record_id": str(uuid.uuid4()),
            "request_id": str(self.request_id),
            "team_id": self.agent.team_id,
            "agent_id": self.agent.id,
            "credential_names": [c.name for c in self.credentials]
            or ([self.credential_name] if self.credential_name else list(self.placeholder_names)),
            "target_url": self.raw_target or None,
            "method": self.method,
            "outcome": self.outcome,
            "approval_status": self.approval_status,
            "upstream_status": self.upstream_status,
            "total_latency_ms": latency_ms,
            "approval_latency_ms": self.approval_latency_ms,
            "upstream_latency_ms": self.upstream_latency_ms,
            "response_sanitized": self.response_sanitized,
            "response_unscannable": self.response_unscannable,
            "response_unscannable_allowed": self.response_unscannable_allowed,
            "approval_evidence_sha256": self.evidence_sha256,
            "request_headers": headers_for_audit(self.forward_headers),
            "request_body": body,
            "request_body_truncated": truncated,
            "policy_reason": self.policy_reason or None,
            "require_passkey": self.require_passkey,
            "approver_identity": self.approver_identity,
            "error": self.error_code,
            "timestamp": now_iso,
        }
