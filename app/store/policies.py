"""Approval policies, one per credential, with replace-on-write semantics.

Writing a policy replaces every field, except ``require_approval_urls``,
which is kept when the writer omits it (send an empty list to clear it): a
client that does not know about that list must not silently drop it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import asyncpg

from app.errors import InvalidInput, NotFound
from app.store import events
from app.store.db import Conn
from app.store.models import Policy

APPROVAL_CHANNELS: Final = ("telegram", "matrix", "dashboard", "agent_reflected")
_METHOD: Final = re.compile(r"^[A-Z]{1,16}$")

_COLUMNS: Final = (
    "team_id, credential_name, auto_approve_methods, require_approval_methods, auto_approve_urls,"
    " require_approval_urls, allowed_approvers, approval_channel, telegram_chat_id, matrix_room_id,"
    " matrix_allowed_approvers, require_passkey, min_approvals"
)


def from_row(row: asyncpg.Record) -> Policy:
    return Policy(
        team_id=row["team_id"],
        credential_name=row["credential_name"],
        auto_approve_methods=tuple(row["auto_approve_methods"]),
        require_approval_methods=tuple(row["require_approval_methods"]),
        auto_approve_urls=tuple(row["auto_approve_urls"]),
        require_approval_urls=tuple(row["require_approval_urls"]),
        allowed_approvers=tuple(row["allowed_approvers"]),
        approval_channel=row["approval_channel"],
        telegram_chat_id=row["telegram_chat_id"],
        matrix_room_id=row["matrix_room_id"],
        matrix_allowed_approvers=tuple(row["matrix_allowed_approvers"]),
        require_passkey=row["require_passkey"],
        min_approvals=row["min_approvals"],
    )


def normalize_methods(field: str, methods: Sequence[str]) -> tuple[str, ...]:
    result = tuple(dict.fromkeys(m.strip().upper() for m in methods if m.strip()))
    for method in result:
        if not _METHOD.match(method):
            raise InvalidInput(field, f"{method!r} is not an HTTP method")
    return result


def normalize_urls(field: str, patterns: Sequence[str]) -> tuple[str, ...]:
    result = tuple(dict.fromkeys(p.strip() for p in patterns if p.strip()))
    for pattern in result:
        if "://" in pattern or any(c.isspace() for c in pattern):
            raise InvalidInput(
                field, f"{pattern!r}: use a path (/v1/x) or host/path pattern, without a scheme"
            )
    return result


async def get(conn: Conn, team_id: str, credential: str) -> Policy | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM policies WHERE team_id = $1 AND credential_name = $2",
        team_id,
        credential,
    )
    return from_row(row) if row is not None else None


async def put(conn: Conn, policy: Policy, *, keep_require_approval_urls: bool) -> Policy:
    """Replace the credential's policy. Raises NotFound for an unknown credential, InvalidInput."""
    if policy.approval_channel is not None and policy.approval_channel not in APPROVAL_CHANNELS:
        raise InvalidInput("approval_channel", f"expected one of {', '.join(APPROVAL_CHANNELS)}")
    if policy.min_approvals < 1:
        raise InvalidInput("min_approvals", "expected at least 1")
    exists = await conn.fetchval(
        "SELECT 1 FROM credentials WHERE team_id = $1 AND name = $2",
        policy.team_id,
        policy.credential_name,
    )
    if not exists:
        raise NotFound(f"credential {policy.credential_name!r} does not exist")
    row = await conn.fetchrow(
        f"""
        INSERT INTO policies ({_COLUMNS})
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (team_id, credential_name) DO UPDATE SET
            auto_approve_methods = EXCLUDED.auto_approve_methods,
            require_approval_methods = EXCLUDED.require_approval_methods,
            auto_approve_urls = EXCLUDED.auto_approve_urls,
            require_approval_urls = CASE WHEN $14 THEN policies.require_approval_urls
                                         ELSE EXCLUDED.require_approval_urls END,
            allowed_approvers = EXCLUDED.allowed_approvers,
            approval_channel = EXCLUDED.approval_channel,
            telegram_chat_id = EXCLUDED.telegram_chat_id,
            matrix_room_id = EXCLUDED.matrix_room_id,
            matrix_allowed_approvers = EXCLUDED.matrix_allowed_approvers,
            require_passkey = EXCLUDED.require_passkey,
            min_approvals = EXCLUDED.min_approvals,
            updated_at = now()
        RETURNING {_COLUMNS}
        """,
        policy.team_id,
        policy.credential_name,
        list(policy.auto_approve_methods),
        list(policy.require_approval_methods),
        list(policy.auto_approve_urls),
        list(policy.require_approval_urls),
        list(policy.allowed_approvers),
        policy.approval_channel,
        policy.telegram_chat_id,
        policy.matrix_room_id,
        list(policy.matrix_allowed_approvers),
        policy.require_passkey,
        policy.min_approvals,
        keep_require_approval_urls,
    )
    assert row is not None  # INSERT ... RETURNING always yields the row
    await events.team_changed(conn, policy.team_id)
    return from_row(row)


async def clear(conn: Conn, team_id: str, credential: str) -> None:
    status = await conn.execute(
        "DELETE FROM policies WHERE team_id = $1 AND credential_name = $2", team_id, credential
    )
    if status == "DELETE 0":
        raise NotFound(f"no policy is set for credential {credential!r}")
    await events.team_changed(conn, team_id)
