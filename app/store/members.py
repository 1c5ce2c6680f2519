"""Team memberships (one role per user and team) and approvers' credential assignments."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

import asyncpg

from app.errors import AlreadyExists, NotFound
from app.store import events
from app.store.db import Conn

MemberRole = Literal["owner", "admin", "approver"]
MEMBER_ROLES: Final[tuple[MemberRole, ...]] = ("owner", "admin", "approver")


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    email: str
    display_name: str | None
    team_id: str
    member_role: MemberRole
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class TeamMembership:
    team_id: str
    team_name: str
    member_role: MemberRole
    created_at: dt.datetime


def _member(row: asyncpg.Record) -> Member:
    return Member(
        user_id=row["user_id"],
        email=row["email"],
        display_name=row["display_name"],
        team_id=row["team_id"],
        member_role=row["member_role"],
        created_at=row["created_at"],
    )


_SELECT: Final = (
    "SELECT m.user_id, u.email, u.display_name, m.team_id, m.member_role, m.created_at"
    " FROM memberships m JOIN users u ON u.id = m.user_id"
)


async def add(conn: Conn, *, user_id: str, team_id: str, role: MemberRole) -> None:
    """Raises AlreadyExists if the user is already a member."""
    try:
        await conn.execute(
            "INSERT INTO memberships (user_id, team_id, member_role) VALUES ($1, $2, $3)",
            user_id,
            team_id,
            role,
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists("already a member of this team") from None


async def get(conn: Conn, team_id: str, user_id: str) -> Member:
    """Raises NotFound."""
    row = await conn.fetchrow(
        _SELECT + " WHERE m.team_id = $1 AND m.user_id = $2", team_id, user_id
    )
    if row is None:
        raise NotFound("no such member in this team")
    return _member(row)


async def by_user(conn: Conn, team_id: str, user_id: str) -> Member | None:
    """The member, or None when the user is not in the team."""
    row = await conn.fetchrow(
        _SELECT + " WHERE m.team_id = $1 AND m.user_id = $2", team_id, user_id
    )
    return _member(row) if row is not None else None


async def is_member(conn: Conn, team_id: str, user_id: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM memberships WHERE user_id = $1 AND team_id = $2", user_id, team_id
    )
    return found is not None


async def by_email(conn: Conn, team_id: str, email: str) -> Member | None:
    row = await conn.fetchrow(_SELECT + " WHERE m.team_id = $1 AND u.email = $2", team_id, email)
    return _member(row) if row is not None else None


async def list_team(conn: Conn, team_id: str) -> list[Member]:
    rows = await conn.fetch(
        _SELECT + " WHERE m.team_id = $1 ORDER BY m.created_at, u.email", team_id
    )
    return [_member(row) for row in rows]


async def emails(conn: Conn, team_id: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.team_id = $1",
        team_id,
    )
    return {row["email"] for row in rows}


async def teams_of(conn: Conn, user_id: str) -> list[TeamMembership]:
    """The user's teams, oldest membership first."""
    rows = await conn.fetch(
        "SELECT m.team_id, t.name AS team_name, m.member_role, m.created_at FROM memberships m"
        " JOIN teams t ON t.id = m.team_id WHERE m.user_id = $1 ORDER BY m.created_at, t.name",
        user_id,
    )
    return [
        TeamMembership(
            team_id=row["team_id"],
            team_name=row["team_name"],
            member_role=row["member_role"],
            created_at=row["created_at"],
        )
        for row in rows
    ]


async def set_role(conn: Conn, team_id: str, user_id: str, role: MemberRole) -> None:
    status = await conn.execute(
        "UPDATE memberships SET member_role = $3 WHERE team_id = $1 AND user_id = $2",
        team_id,
        user_id,
        role,
    )
    if status == "UPDATE 0":
        raise NotFound("no such member in this team")
    await events.team_changed(conn, team_id)  # their agents' reach follows the role


async def remove(conn: Conn, team_id: str, user_id: str) -> None:
    """Remove the membership; assignments go with it and its sessions stop resolving."""
    status = await conn.execute(
        "DELETE FROM memberships WHERE team_id = $1 AND user_id = $2", team_id, user_id
    )
    if status == "DELETE 0":
        raise NotFound("no such member in this team")
    await events.team_changed(conn, team_id)


async def count_owners(conn: Conn, team_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM memberships WHERE team_id = $1 AND member_role = 'owner'", team_id
    )
    return count


# Approver assignments ------------------------------------------------------------


async def assigned_credentials(conn: Conn, team_id: str, user_id: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT credential_name FROM approver_credentials WHERE team_id = $1 AND user_id = $2",
        team_id,
        user_id,
    )
    return {row["credential_name"] for row in rows}


async def assign(conn: Conn, team_id: str, user_id: str, credential: str) -> None:
    """Raises NotFound when the member or the credential does not exist in the team."""
    await conn.execute(
        "INSERT INTO approver_credentials (team_id, user_id, credential_name) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        team_id,
        user_id,
        credential,
    )
    await events.team_changed(conn, team_id)


async def unassign(conn: Conn, team_id: str, user_id: str, credential: str) -> None:
    status = await conn.execute(
        "DELETE FROM approver_credentials WHERE team_id = $1 AND user_id = $2 AND credential_name = $3",
        team_id,
        user_id,
        credential,
    )
    if status == "DELETE 0":
        raise NotFound("this credential is not assigned to this member")
    await events.team_changed(conn, team_id)


@dataclass(frozen=True, slots=True)
class Owner:
    """An owner and the team they own (what the local dev login signs in as)."""

    user_id: str
    email: str
    team_id: str
    team_name: str


async def first_owner(conn: Conn) -> Owner | None:
    """The earliest owner membership of any team, or None when nobody has signed up."""
    row = await conn.fetchrow(
        "SELECT m.user_id, u.email, m.team_id, t.name AS team_name FROM memberships m"
        " JOIN users u ON u.id = m.user_id JOIN teams t ON t.id = m.team_id"
        " WHERE m.member_role = 'owner' ORDER BY m.created_at LIMIT 1"
    )
    if row is None:
        return None
    return Owner(
        user_id=row["user_id"],
        email=row["email"],
        team_id=row["team_id"],
        team_name=row["team_name"],
    )
