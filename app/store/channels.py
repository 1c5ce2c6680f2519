"""Notification channels of a team: how people hear about pending approvals.

Rows are ordered by ``priority`` then age; the first enabled row is the
team's default. Making a row the default sets it to 0 and every other row to
:data:`DEFAULT_PRIORITY`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, Final, Literal

import asyncpg

from app.errors import AlreadyExists, NotFound
from app.store.db import Conn

ChannelType = Literal["telegram", "matrix", "dashboard", "agent_reflected"]
CHANNEL_TYPES: Final[tuple[ChannelType, ...]] = (
    "telegram",
    "matrix",
    "dashboard",
    "agent_reflected",
)
DEFAULT_PRIORITY: Final = 1000

_COLUMNS: Final = "id, team_id, channel_type, name, config, enabled, priority, created_at"


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    team_id: str
    channel_type: ChannelType
    name: str
    config: dict[str, Any]
    enabled: bool
    priority: int
    created_at: dt.datetime


def _channel(row: asyncpg.Record) -> Channel:
    return Channel(
        id=row["id"],
        team_id=row["team_id"],
        channel_type=row["channel_type"],
        name=row["name"],
        config=json.loads(row["config"]),
        enabled=row["enabled"],
        priority=row["priority"],
        created_at=row["created_at"],
    )


async def list_team(conn: Conn, team_id: str) -> list[Channel]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM notification_channels WHERE team_id = $1 ORDER BY priority, created_at, name",
        team_id,
    )
    return [_channel(row) for row in rows]


async def create(
    conn: Conn,
    *,
    team_id: str,
    channel_type: ChannelType,
    name: str,
    config: dict[str, Any],
    enabled: bool,
) -> Channel:
    """Raises AlreadyExists for a taken name."""
    try:
        row = await conn.fetchrow(
            f"INSERT INTO notification_channels (id, team_id, channel_type, name, config, enabled, priority)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
            f"ch_{uuid.uuid4().hex}",
            team_id,
            channel_type,
            name,
            json.dumps(config),
            enabled,
            DEFAULT_PRIORITY,
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(f"a channel named {name!r} already exists") from None
    assert row is not None
    return _channel(row)


async def delete(conn: Conn, team_id: str, name: str) -> None:
    status = await conn.execute(
        "DELETE FROM notification_channels WHERE team_id = $1 AND name = $2", team_id, name
    )
    if status == "DELETE 0":
        raise NotFound(f"no channel named {name!r}")


async def make_default(conn: Conn, team_id: str, name: str) -> None:
    """Raises NotFound for an unknown or disabled channel."""
    exists = await conn.fetchval(
        "SELECT 1 FROM notification_channels WHERE team_id = $1 AND name = $2 AND enabled",
        team_id,
        name,
    )
    if exists is None:
        raise NotFound(f"no enabled channel named {name!r}")
    await conn.execute(
        "UPDATE notification_channels SET priority = CASE WHEN name = $2 THEN 0 ELSE $3 END, updated_at = now()"
        " WHERE team_id = $1",
        team_id,
        name,
        DEFAULT_PRIORITY,
    )
