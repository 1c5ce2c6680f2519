"""The reads ``/forward`` makes, each in one round trip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from app.store import credentials, policies
from app.store.db import Queryable, translated
from app.store.models import ApprovalMode, Credential, Policy

_CONFIG: Final = """
SELECT c.team_id, c.name, c.description, c.auth_type, c.connector, c.api_base, c.relative_target,
       c.auth_header_format, c.auth_bindings, c.allowed_hosts, c.allow_http, c.sealed_value, c.key_version,
       c.value_hint, c.created_at, c.updated_at, c.allow_unscannable_responses, c.verify_url,
       t.default_approval_mode,
       p.credential_name AS policy_credential, p.auto_approve_methods, p.require_approval_methods,
       p.auto_approve_urls, p.require_approval_urls, p.allowed_approvers, p.approval_channel,
       p.telegram_chat_id, p.matrix_room_id, p.matrix_allowed_approvers, p.require_passkey, p.min_approvals
  FROM credentials c
  JOIN teams t ON t.id = c.team_id
  LEFT JOIN policies p ON p.team_id = c.team_id AND p.credential_name = c.name
 WHERE c.team_id = $1 AND c.name = $2
"""


@dataclass(frozen=True, slots=True)
class ForwardConfig:
    """A credential with its policy and its team's default mode."""

    credential: Credential
    policy: Policy | None
    team_mode: ApprovalMode


@translated
async def config_for(conn: Queryable, team_id: str, name: str) -> ForwardConfig | None:
    row = await conn.fetchrow(_CONFIG, team_id, name)
    if row is None:
        return None
    policy = None
    if row["policy_credential"] is not None:
        policy = policies.from_row({**dict(row), "credential_name": row["policy_credential"]})  # type: ignore[arg-type]
    mode: ApprovalMode = "autonomous" if row["default_approval_mode"] == "autonomous" else "gated"
    return ForwardConfig(credential=credentials.from_row(row), policy=policy, team_mode=mode)
