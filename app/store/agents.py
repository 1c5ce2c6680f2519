"""Agents: who may call /forward, with which credentials, how often.

An agent's key is shown once at creation and stored only as an HMAC. Grants
are validated up front: naming a role or credential that does not exist is an
error, never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import asyncpg

from app.crypto import KeyRing, new_api_key
from app.errors import AlreadyExists, InvalidInput, NotFound
from app.store import credentials as credentials_store
from app.store import events
from app.store.db import Conn, Queryable, translated
from app.store.models import Agent

ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# NOTE: an agent is never worth more than its owner. A key made by a member
# (``owner_user_id``) reaches a credential only while that member may: owners
# and admins reach every credential granted to the key, approvers only those
# assigned to them now, and a removed member none. This is decided here, at
# every lookup, so the /forward access stage needs no rule of its own.
_SELECT: Final = """
SELECT a.team_id, a.id, a.description, a.enabled, a.rate_limit_per_hour, a.all_credentials,
       a.owner_user_id, a.created_at, a.disabled_by, a.disabled_by_manager,
       ARRAY(SELECT role_name FROM agent_roles r WHERE r.team_id = a.team_id AND r.agent_id = a.id
             ORDER BY role_name) AS roles,
       ARRAY(SELECT credential_name FROM agent_credentials c WHERE c.team_id = a.team_id AND c.agent_id = a.id
             ORDER BY credential_name) AS direct_credentials,
       ARRAY(SELECT granted.name FROM (
               SELECT c.credential_name AS name FROM agent_credentials c
                WHERE c.team_id = a.team_id AND c.agent_id = a.id
               UNION
               SELECT rc.credential_name FROM agent_roles r
                 JOIN role_credentials rc ON rc.team_id = r.team_id AND rc.role_name = r.role_name
                WHERE r.team_id = a.team_id AND r.agent_id = a.id
               UNION
               SELECT cr.name FROM credentials cr WHERE cr.team_id = a.team_id AND a.all_credentials
             ) granted
             WHERE a.owner_user_id IS NULL
                OR EXISTS (
                     SELECT 1 FROM memberships m
                      WHERE m.team_id = a.team_id AND m.user_id = a.owner_user_id
                        AND (m.member_role IN ('owner', 'admin')
                             OR EXISTS (SELECT 1 FROM approver_credentials ac
                                         WHERE ac.team_id = a.team_id AND ac.user_id = a.owner_user_id
                                           AND ac.credential_name = granted.name)))
       ) AS effective_credentials
  FROM agents a
"""


def normalize_id(raw: str) -> str:
    agent_id = raw.strip()
    if not ID_PATTERN.match(agent_id):
        raise InvalidInput(
            "name", "agent names are 1-64 characters of letters, digits, '_', '.', '-'"
        )
    return agent_id


def _agent(row: asyncpg.Record) -> Agent:
    return Agent(
        team_id=row["team_id"],
        id=row["id"],
        description=row["description"],
        enabled=row["enabled"],
        rate_limit_per_hour=row["rate_limit_per_hour"],
        all_credentials=row["all_credentials"],
        roles=tuple(row["roles"]),
        direct_credentials=tuple(row["direct_credentials"]),
        effective_credentials=frozenset(row["effective_credentials"]),
        owner_user_id=row["owner_user_id"],
        created_at=row["created_at"],
        disabled_by=row["disabled_by"],
        disabled_by_manager=row["disabled_by_manager"],
    )


def _check_rate_limit(rate_limit: int | None) -> None:
    if rate_limit is not None and not 1 <= rate_limit <= 10_000_000:
        raise InvalidInput("rate_limit", "expected a positive number of requests per hour")


async def create(
    conn: Conn,
    keys: KeyRing,
    *,
    team_id: str,
    agent_id: str,
    description: str = "",
    roles: Sequence[str] = (),
    credentials: Sequence[str] = (),
    rate_limit_per_hour: int | None = None,
    all_credentials: bool = False,
    owner_user_id: str | None = None,
) -> tuple[Agent, str]:
    """Create an agent and return it with its API key (the only time the key exists in clear).

    Raises InvalidInput, AlreadyExists, or NotFound for an unknown role or credential.
    Call inside a transaction so a failed grant leaves no agent behind.
    """
    agent_id = normalize_id(agent_id)
    _check_rate_limit(rate_limit_per_hour)
    await _check_grants(conn, team_id, roles, credentials)
    api_key = new_api_key()
    try:
        await conn.execute(
            "INSERT INTO agents (team_id, id, description, api_key_hash, rate_limit_per_hour, all_credentials,"
            " owner_user_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            team_id,
            agent_id,
            description.strip(),
            keys.hash_api_key(api_key),
            rate_limit_per_hour,
            all_credentials,
            owner_user_id,
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(f"an agent named {agent_id!r} already exists") from None
    await conn.executemany(
        "INSERT INTO agent_roles (team_id, agent_id, role_name) VALUES ($1, $2, $3)",
        [(team_id, agent_id, role) for role in dict.fromkeys(roles)],
    )
    await conn.executemany(
        "INSERT INTO agent_credentials (team_id, agent_id, credential_name) VALUES ($1, $2, $3)",
        [(team_id, agent_id, name) for name in dict.fromkeys(credentials)],
    )
    return await get(conn, team_id, agent_id), api_key


async def _check_grants(
    conn: Conn, team_id: str, roles: Sequence[str], creds: Sequence[str]
) -> None:
    missing_creds = sorted(
        set(creds) - await credentials_store.existing_names(conn, team_id, creds)
    )
    if missing_creds:
        raise NotFound(f"no such credential: {', '.join(missing_creds)}")
    rows = await conn.fetch(
        "SELECT name FROM roles WHERE team_id = $1 AND name = ANY($2::text[])", team_id, list(roles)
    )
    missing_roles = sorted(set(roles) - {row["name"] for row in rows})
    if missing_roles:
        raise NotFound(f"no such role: {', '.join(missing_roles)}")


async def get(conn: Conn, team_id: str, agent_id: str) -> Agent:
    row = await conn.fetchrow(_SELECT + " WHERE a.team_id = $1 AND a.id = $2", team_id, agent_id)
    if row is None:
        raise NotFound(f"agent {agent_id!r} does not exist")
    return _agent(row)


async def list_all(conn: Conn, team_id: str) -> list[Agent]:
    rows = await conn.fetch(_SELECT + " WHERE a.team_id = $1 ORDER BY a.id", team_id)
    return [_agent(row) for row in rows]


@translated
async def by_key_hash(conn: Queryable, key_hash: str) -> Agent | None:
    """The agent whose stored key hash is ``key_hash`` (any team), or None."""
    row = await conn.fetchrow(_SELECT + " WHERE a.api_key_hash = $1", key_hash)
    return _agent(row) if row is not None else None


async def set_enabled(
    conn: Conn,
    team_id: str,
    agent_id: str,
    enabled: bool,
    *,
    by: str | None = None,
    by_manager: bool = True,
) -> None:
    """Enable or disable the agent; a disable records who did it (``by``) and whether they managed the team.

    NOTE: ``by_manager`` defaults to true (the operator's CLI is a manager):
    forgetting it can only make a key harder to re-enable, never easier.

    Raises NotFound.
    """
    status = await conn.execute(
        "UPDATE agents SET enabled = $3,"
        " disabled_by = CASE WHEN $3 THEN NULL ELSE $4 END,"
        " disabled_by_manager = CASE WHEN $3 THEN false ELSE $5 END,"
        " updated_at = now() WHERE team_id = $1 AND id = $2",
        team_id,
        agent_id,
        enabled,
        by,
        by_manager,
    )
    if status == "UPDATE 0":
        raise NotFound(f"agent {agent_id!r} does not exist")
    await events.team_changed(conn, team_id)


async def disable_owned_by(conn: Conn, team_id: str, owner_user_id: str, *, by: str) -> None:
    """Disable every key ``owner_user_id`` made in the team, as a manager (``by``) did it."""
    await conn.execute(
        "UPDATE agents SET enabled = false, disabled_by = $3, disabled_by_manager = true,"
        " updated_at = now() WHERE team_id = $1 AND owner_user_id = $2 AND enabled",
        team_id,
        owner_user_id,
        by,
    )
    await events.team_changed(conn, team_id)


async def rotate_key(conn: Conn, keys: KeyRing, team_id: str, agent_id: str) -> str:
    """Give the agent a new key; the old one stops working at once. Returns the new key."""
    api_key = new_api_key()
    status = await conn.execute(
        "UPDATE agents SET api_key_hash = $3, updated_at = now() WHERE team_id = $1 AND id = $2",
        team_id,
        agent_id,
        keys.hash_api_key(api_key),
    )
    if status == "UPDATE 0":
        raise NotFound(f"agent {agent_id!r} does not exist")
    await events.team_changed(conn, team_id)
    return api_key


async def delete(conn: Conn, team_id: str, agent_id: str) -> None:
    status = await conn.execute(
        "DELETE FROM agents WHERE team_id = $1 AND id = $2", team_id, agent_id
    )
    if status == "DELETE 0":
        raise NotFound(f"agent {agent_id!r} does not exist")
    await events.team_changed(conn, team_id)


async def update(
    conn: Conn,
    team_id: str,
    agent_id: str,
    *,
    description: str | None = None,
    roles: Sequence[str] | None = None,
    credentials: Sequence[str] | None = None,
    rate_limit_per_hour: int | None = None,
    clear_rate_limit: bool = False,
) -> Agent:
    """Change what the caller names (``None`` keeps it); grants are replaced as a whole.

    Raises NotFound (the agent, or a role or credential it would be granted) or
    InvalidInput. Call inside a transaction so a failed grant changes nothing.
    """
    _check_rate_limit(rate_limit_per_hour)
    current = await get(conn, team_id, agent_id)
    await _check_grants(conn, team_id, roles or (), credentials or ())
    limit = None if clear_rate_limit else current.rate_limit_per_hour
    await conn.execute(
        "UPDATE agents SET description = $3, rate_limit_per_hour = $4, updated_at = now()"
        " WHERE team_id = $1 AND id = $2",
        team_id,
        current.id,
        current.description if description is None else description.strip(),
        limit if rate_limit_per_hour is None else rate_limit_per_hour,
    )
    if roles is not None:
        await conn.execute(
            "DELETE FROM agent_roles WHERE team_id = $1 AND agent_id = $2", team_id, current.id
        )
        await conn.executemany(
            "INSERT INTO agent_roles (team_id, agent_id, role_name) VALUES ($1, $2, $3)",
            [(team_id, current.id, role) for role in dict.fromkeys(roles)],
        )
    if credentials is not None:
        await conn.execute(
            "DELETE FROM agent_credentials WHERE team_id = $1 AND agent_id = $2",
            team_id,
            current.id,
        )
        await conn.executemany(
            "INSERT INTO agent_credentials (team_id, agent_id, credential_name) VALUES ($1, $2, $3)",
            [(team_id, current.id, name) for name in dict.fromkeys(credentials)],
        )
    await events.team_changed(conn, team_id)
    return await get(conn, team_id, current.id)
