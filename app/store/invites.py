"""Team invites: an email, a role and a single-use token that expires.

Only the keyed hash of the token is stored. Inviting an email that already
has a pending invite to the team replaces it (a new token, a new expiry).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Final

import asyncpg

from app.errors import NotFound
from app.store.db import Conn
from app.store.members import MemberRole

INVITE_TTL: Final = dt.timedelta(hours=48)

_COLUMNS: Final = (
    "i.id, i.team_id, t.name AS team_name, i.email, i.member_role, i.invited_by, i.emailed,"
    " i.expires_at, i.created_at"
)


@dataclass(frozen=True, slots=True)
class Invite:
    id: str
    team_id: str
    team_name: str
    email: str
    member_role: MemberRole
    invited_by: str | None
    emailed: bool
    """The accept link went to the address by email (so holding it proves the address)."""
    expires_at: dt.datetime
    created_at: dt.datetime

    @property
    def expired(self) -> bool:
        return self.expires_at <= dt.datetime.now(dt.UTC)


def _invite(row: asyncpg.Record) -> Invite:
    return Invite(
        id=row["id"],
        team_id=row["team_id"],
        team_name=row["team_name"],
        email=row["email"],
        member_role=row["member_role"],
        invited_by=row["invited_by"],
        emailed=row["emailed"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
    )


async def create(
    conn: Conn,
    *,
    team_id: str,
    email: str,
    role: MemberRole,
    token_hash: str,
    invited_by: str,
) -> Invite:
    await conn.execute(
        "INSERT INTO invites (id, team_id, email, member_role, token_hash, invited_by, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, now() + $7)"
        " ON CONFLICT (team_id, email) DO UPDATE SET id = EXCLUDED.id, member_role = EXCLUDED.member_role,"
        " token_hash = EXCLUDED.token_hash, invited_by = EXCLUDED.invited_by, expires_at = EXCLUDED.expires_at,"
        " emailed = false, created_at = now()",
        f"inv_{uuid.uuid4().hex}",
        team_id,
        email,
        role,
        token_hash,
        invited_by,
        INVITE_TTL,
    )
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM invites i JOIN teams t ON t.id = i.team_id WHERE i.team_id = $1 AND i.email = $2",
        team_id,
        email,
    )
    assert row is not None
    return _invite(row)


async def by_token_hash(conn: Conn, token_hash: str, *, lock: bool = False) -> Invite | None:
    suffix = " FOR UPDATE OF i" if lock else ""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM invites i JOIN teams t ON t.id = i.team_id WHERE i.token_hash = $1"
        + suffix,
        token_hash,
    )
    return _invite(row) if row is not None else None


async def mark_emailed(conn: Conn, invite_id: str) -> None:
    """Record that the invite's link was delivered by email."""
    await conn.execute("UPDATE invites SET emailed = true WHERE id = $1", invite_id)


async def pending_for_email(conn: Conn, email: str) -> list[Invite]:
    """Unexpired invites addressed to ``email``, oldest first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM invites i JOIN teams t ON t.id = i.team_id"
        " WHERE i.email = $1 AND i.expires_at > now() ORDER BY i.created_at",
        email,
    )
    return [_invite(row) for row in rows]


async def pending_for_email_by_id(conn: Conn, email: str, invite_id: str) -> Invite | None:
    """The unexpired invite ``invite_id`` if it is addressed to ``email``, locked for consumption."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM invites i JOIN teams t ON t.id = i.team_id"
        " WHERE i.email = $1 AND i.id = $2 AND i.expires_at > now() FOR UPDATE OF i",
        email,
        invite_id,
    )
    return _invite(row) if row is not None else None


async def list_team(conn: Conn, team_id: str) -> list[Invite]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM invites i JOIN teams t ON t.id = i.team_id WHERE i.team_id = $1"
        " ORDER BY i.created_at",
        team_id,
    )
    return [_invite(row) for row in rows]


async def delete(conn: Conn, team_id: str, invite_id: str) -> None:
    """Raises NotFound."""
    status = await conn.execute(
        "DELETE FROM invites WHERE team_id = $1 AND id = $2", team_id, invite_id
    )
    if status == "DELETE 0":
        raise NotFound("no such invite in this team")


async def consume(conn: Conn, invite_id: str) -> None:
    await conn.execute("DELETE FROM invites WHERE id = $1", invite_id)
