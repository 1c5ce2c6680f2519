"""Teams: the unit of isolation. Every other aggregate hangs off a team id."""

from __future__ import annotations

from typing import Final

import asyncpg

from app.errors import InvalidInput, NotFound
from app.store import events
from app.store.db import Conn
from app.store.models import APPROVAL_MODES, ApprovalMode, Team

DEFAULT_TEAM_ID: Final = "default"

_COLUMNS: Final = "id, name, default_approval_mode, created_at"


def _team(row: asyncpg.Record) -> Team:
    return Team(
        id=row["id"],
        name=row["name"],
        default_approval_mode=row["default_approval_mode"],
        created_at=row["created_at"],
    )


async def ensure_team(conn: Conn, team_id: str, name: str, mode: ApprovalMode = "gated") -> Team:
    """Create the team if it does not exist; return it either way."""
    await conn.execute(
        "INSERT INTO teams (id, name, default_approval_mode) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        team_id,
        name,
        mode,
    )
    return await get(conn, team_id)


async def name_taken(conn: Conn, name: str) -> bool:
    return await conn.fetchval("SELECT 1 FROM teams WHERE name = $1", name) is not None


async def get(conn: Conn, team_id: str) -> Team:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM teams WHERE id = $1", team_id)
    if row is None:
        raise NotFound(f"team {team_id!r} does not exist")
    return _team(row)


async def default_mode(conn: Conn, team_id: str) -> ApprovalMode:
    """The team's approval mode; an unknown team reads as ``gated`` (fail closed)."""
    mode = await conn.fetchval("SELECT default_approval_mode FROM teams WHERE id = $1", team_id)
    return "autonomous" if mode == "autonomous" else "gated"


async def set_default_mode(conn: Conn, team_id: str, mode: str) -> None:
    if mode not in APPROVAL_MODES:
        raise InvalidInput("default_approval_mode", f"expected one of {', '.join(APPROVAL_MODES)}")
    status = await conn.execute(
        "UPDATE teams SET default_approval_mode = $2 WHERE id = $1", team_id, mode
    )
    if status.endswith(" 0"):
        raise NotFound(f"team {team_id!r} does not exist")
    await events.team_changed(conn, team_id)


async def find(conn: Conn, name_or_id: str) -> Team | None:
    """The team with this name (or, failing that, this id), or None."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM teams WHERE name = $1 OR id = $1 ORDER BY name = $1 DESC LIMIT 1",
        name_or_id,
    )
    return _team(row) if row is not None else None


async def list_all(conn: Conn) -> list[Team]:
    """Every team, by name (for the operator; the admin API never lists other teams)."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM teams ORDER BY name")
    return [_team(row) for row in rows]
