"""Roles: named bundles of credentials that agents are given."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import asyncpg

from app.errors import AlreadyExists, InvalidInput, NotFound
from app.store import credentials as credentials_store
from app.store import events
from app.store.db import Conn
from app.store.models import Role

NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_SELECT: Final = """
SELECT r.team_id, r.name, r.description, r.rate_limit_per_hour,
       ARRAY(SELECT credential_name FROM role_credentials rc
              WHERE rc.team_id = r.team_id AND rc.role_name = r.name ORDER BY credential_name) AS credentials
  FROM roles r
"""


def _role(row: asyncpg.Record) -> Role:
    return Role(
        team_id=row["team_id"],
        name=row["name"],
        description=row["description"],
        rate_limit_per_hour=row["rate_limit_per_hour"],
        credentials=tuple(row["credentials"]),
    )


async def create(
    conn: Conn,
    *,
    team_id: str,
    name: str,
    description: str = "",
    credentials: Sequence[str] = (),
    rate_limit_per_hour: int | None = None,
) -> Role:
    """Create a role. Raises InvalidInput, AlreadyExists, or NotFound for an unknown credential."""
    name = name.strip()
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            "name", "role names are 1-64 characters of letters, digits, '_', '.', '-'"
        )
    if rate_limit_per_hour is not None and rate_limit_per_hour < 1:
        raise InvalidInput("rate_limit", "expected a positive number of requests per hour")
    missing = sorted(
        set(credentials) - await credentials_store.existing_names(conn, team_id, credentials)
    )
    if missing:
        raise NotFound(f"no such credential: {', '.join(missing)}")
    try:
        await conn.execute(
            "INSERT INTO roles (team_id, name, description, rate_limit_per_hour) VALUES ($1, $2, $3, $4)",
            team_id,
            name,
            description.strip(),
            rate_limit_per_hour,
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(f"a role named {name!r} already exists") from None
    await conn.executemany(
        "INSERT INTO role_credentials (team_id, role_name, credential_name) VALUES ($1, $2, $3)",
        [(team_id, name, cred) for cred in dict.fromkeys(credentials)],
    )
    return await get(conn, team_id, name)


async def get(conn: Conn, team_id: str, name: str) -> Role:
    row = await conn.fetchrow(_SELECT + " WHERE r.team_id = $1 AND r.name = $2", team_id, name)
    if row is None:
        raise NotFound(f"role {name!r} does not exist")
    return _role(row)


async def list_all(conn: Conn, team_id: str) -> list[Role]:
    return [
        _role(row)
        for row in await conn.fetch(_SELECT + " WHERE r.team_id = $1 ORDER BY r.name", team_id)
    ]


async def update(
    conn: Conn,
    team_id: str,
    name: str,
    *,
    description: str | None = None,
    credentials: Sequence[str] | None = None,
    rate_limit_per_hour: int | None = None,
    clear_rate_limit: bool = False,
) -> Role:
    """Change what the caller names (``None`` keeps it); the credential list is replaced as a whole.

    Raises NotFound (the role, or a credential it would grant) or InvalidInput.
    Call inside a transaction so a failed change changes nothing.
    """
    if rate_limit_per_hour is not None and rate_limit_per_hour < 1:
        raise InvalidInput("rate_limit", "expected a positive number of requests per hour")
    current = await get(conn, team_id, name)
    if credentials is not None:
        missing = sorted(
            set(credentials) - await credentials_store.existing_names(conn, team_id, credentials)
        )
        if missing:
            raise NotFound(f"no such credential: {', '.join(missing)}")
    limit = None if clear_rate_limit else current.rate_limit_per_hour
    await conn.execute(
        "UPDATE roles SET description = $3, rate_limit_per_hour = $4 WHERE team_id = $1 AND name = $2",
        team_id,
        current.name,
        current.description if description is None else description.strip(),
        limit if rate_limit_per_hour is None else rate_limit_per_hour,
    )
    if credentials is not None:
        await conn.execute(
            "DELETE FROM role_credentials WHERE team_id = $1 AND role_name = $2",
            team_id,
            current.name,
        )
        await conn.executemany(
            "INSERT INTO role_credentials (team_id, role_name, credential_name) VALUES ($1, $2, $3)",
            [(team_id, current.name, cred) for cred in dict.fromkeys(credentials)],
        )
    await events.team_changed(conn, team_id)
    return await get(conn, team_id, current.name)


async def add_credential(conn: Conn, team_id: str, role: str, credential: str) -> None:
    await get(conn, team_id, role)
    await credentials_store.get(conn, team_id, credential)
    await conn.execute(
        "INSERT INTO role_credentials (team_id, role_name, credential_name) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        team_id,
        role,
        credential,
    )
    await events.team_changed(conn, team_id)


async def remove_credential(conn: Conn, team_id: str, role: str, credential: str) -> None:
    status = await conn.execute(
        "DELETE FROM role_credentials WHERE team_id = $1 AND role_name = $2 AND credential_name = $3",
        team_id,
        role,
        credential,
    )
    if status == "DELETE 0":
        await get(conn, team_id, role)
        raise NotFound(f"role {role!r} does not grant credential {credential!r}")
    await events.team_changed(conn, team_id)


async def delete(conn: Conn, team_id: str, name: str) -> None:
    """Delete a role; agents lose the credentials it granted (cascade)."""
    status = await conn.execute("DELETE FROM roles WHERE team_id = $1 AND name = $2", team_id, name)
    if status == "DELETE 0":
        raise NotFound(f"role {name!r} does not exist")
    await events.team_changed(conn, team_id)
