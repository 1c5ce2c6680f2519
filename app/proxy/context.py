"""The one object that carries a ``/forward`` request through every stage.

Each field says which stage sets it. Stages read earlier fields, never the raw
Quart request; only :mod:`app.proxy.headers` looks at what the agent sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from app.audit import body_for_audit, mask_headers
from app.runtime import Runtime
from app.store.models import Agent, Credential, Policy


@dataclass(slots=True)
class ForwardContext:
    rt: Runtime
    """The worker's pool, keys, caches and upstream session (handler)."""
    request_id: uuid.UUID
    """Set by the handler; also the approval ``txn_id``."""
    started: float
    """``time.perf_counter()`` at arrival, for latencies."""
    raw_headers: list[tuple[str, str]]
    """Every header as received (handler)."""
    body: bytes
    """The request body as received (handler)."""

    # headers stage
    api_key: str = ""
    """The agent's key from ``X-TAP-Key``."""
    credential_name: str | None = None
    """``X-TAP-Credential``; ``None`` selects placeholder mode."""
    raw_target: str = ""
    method: str = "GET"
    """Upper-cased ``X-TAP-Method``."""
    forward_headers: list[tuple[str, str]] = field(default_factory=list)
    """What the agent asked to send upstream: no ``X-TAP-*``, no hop-by-hop headers."""
    placeholder_names: list[str] = field(default_factory=list)
    """Placeholder mode: the credentials referenced, in order."""

    # agent stage
    agent: Agent | None = None
    """The primary agent (first valid key); the access stage may pick another as serving agent."""
    agents: list[Agent] = field(default_factory=list)
    """Every enabled agent named by ``X-TAP-Key``, in order."""

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
    upstream_headers: list[tuple[str, str]] = field(default_factory=list)
    secrets: list[tuple[str, str]] = field(default_factory=list)
    """``(label, secret text)`` pairs injected; the sanitizer scrubs each."""

    # forward stage
    upstream_status: int | None = None
    upstream_headers_out: list[tuple[str, str]] = field(default_factory=list)
    upstream_body: bytes = b""
    """Decoded from its ``Content-Encoding``, unless ``upstream_unscannable`` says why not."""
    upstream_unscannable: str | None = None
    """Why the body could not be decoded for scanning (forward); ``None`` when it could."""
    upstream_latency_ms: int | None = None
    response_too_large: bool = False
    """The upstream answer passed the size limit and was cut."""

    # sanitize stage
    response_sanitized: bool = False
    response_withheld: bool = False
    response_unscannable: str | None = None
    """Why the body could not be scanned, when it could not (sanitize)."""
    response_unscannable_allowed: bool = False
    """An unscannable body was passed on under the credentials' opt-out (sanitize)."""

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

    @property
    def team_id(self) -> str:
        assert self.agent is not None
        return self.agent.team_id

    def audit_entry(self, *, now_iso: str, latency_ms: int) -> dict[str, Any]:
        """The audit record of this request's outcome. Never holds an injected secret."""
        body, truncated = body_for_audit(self.body)
        assert self.agent is not None
        return {
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
            "request_headers": mask_headers(self.forward_headers),
            "request_body": body,
            "request_body_truncated": truncated,
            "policy_reason": self.policy_reason or None,
            "require_passkey": self.require_passkey,
            "approver_identity": self.approver_identity,
            "error": self.error_code,
            "timestamp": now_iso,
        }
