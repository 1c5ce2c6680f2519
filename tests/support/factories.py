"""Factories for model objects with safe defaults that a test overrides."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Any

from app.store.models import Credential

_NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
AUDIT_TIME = dt.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC)


def make_credential(**overrides: Any) -> Credential:
    base = Credential(
        team_id="t1",
        name="stripe",
        description="",
        auth_type="api-key",
        connector="direct",
        api_base=None,
        relative_target=False,
        auth_header_format=None,
        auth_bindings=(),
        allowed_hosts=(),
        allow_http=False,
        sealed_value=b"x",
        key_version=1,
        value_hint=None,
        created_at=_NOW,
        updated_at=_NOW,
    )
    return replace(base, **overrides)


def make_audit_record(**fields: Any) -> dict[str, Any]:
    """A forwarded POST as the pipeline queues it (every field of an audit record)."""
    base: dict[str, Any] = {
        "record_id": str(uuid.uuid4()),
        "request_id": str(uuid.uuid4()),
        "team_id": "acme",
        "agent_id": "bot",
        "credential_names": ["stripe"],
        "target_url": "https://api.example/v1",
        "method": "POST",
        "outcome": "forwarded",
        "approval_status": None,
        "upstream_status": 200,
        "total_latency_ms": 12,
        "approval_latency_ms": None,
        "upstream_latency_ms": 9,
        "response_sanitized": False,
        "request_headers": [(b"Content-Type", b"application/json")],
        "request_body": b'{"a":1}',
        "request_body_truncated": False,
        "policy_reason": None,
        "require_passkey": False,
        "approver_identity": None,
        "error": None,
        "timestamp": AUDIT_TIME.isoformat(),
        "response_unscannable": None,
        "response_unscannable_allowed": False,
        "approval_evidence_sha256": None,
    }
    base.update(fields)
    return base
