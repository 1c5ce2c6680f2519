"""Who may decide a pending request: the one rule every surface applies.

The API, the dashboard, the approve page and every chat channel ask here
before they vote. A member may decide a request of their own team when their
role covers every credential it uses (owners and admins: all; approvers: the
credentials assigned to them) and, if the policy names ``allowed_approvers``,
their email is on that list. Quorum and ``require_passkey`` are then enforced
by :func:`app.approvals.decisions.vote` itself.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from app.store import members
from app.store.db import Conn

MANAGER_ROLES: Final = frozenset({"owner", "admin"})


async def covers_credentials(
    conn: Conn, *, team_id: str, user_id: str, role: str, credential_names: Collection[str]
) -> bool:
    """Owners and admins decide every credential, approvers only requests whose every credential is theirs."""
    if role in MANAGER_ROLES:
        return True
    if role != "approver":
        return False
    assigned = await members.assigned_credentials(conn, team_id, user_id)
    return all(name in assigned for name in credential_names)


def on_allowed_list(email: str, allowed_approvers: Collection[str]) -> bool:
    """True when the policy names no approvers or names this email (case-insensitively)."""
    return not allowed_approvers or email.lower() in {a.lower() for a in allowed_approvers}


async def may_decide(
    conn: Conn,
    *,
    team_id: str,
    user_id: str,
    email: str,
    role: str,
    credential_names: Collection[str],
    allowed_approvers: Collection[str],
) -> bool:
    """Both rules above: the member may see and vote on this request."""
    return on_allowed_list(email, allowed_approvers) and await covers_credentials(
        conn, team_id=team_id, user_id=user_id, role=role, credential_names=credential_names
    )
