"""Fill the database with many agents and credentials, fast, for the lookup-scaling run.

Rows are written with ``executemany`` in one transaction, shaped exactly as
``app.store.credentials.create`` and ``app.store.agents.create`` write them
(sealed values under the row's associated data, HMAC'd agent keys), so TAP
reads them like any other. Each seeded agent is granted its own credential.
The keys of seeded agents are thrown away: the load uses the ``bench`` agent.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app.crypto import KeyRing, new_api_key, value_hint
from app.store import teams

SEED_PREFIX = "seed-"


async def seed(
    database_url: str, master_key: bytes, *, first: int, count: int, allowed_host: str
) -> list[str]:
    """Add agents and credentials ``seed-<first>`` .. ``seed-<first+count-1>`` to team ``default``.

    Returns the agents' API keys, in order.
    """
    keys = KeyRing.from_master_key(master_key)
    team_id = teams.DEFAULT_TEAM_ID
    names = [f"{SEED_PREFIX}{i:05d}" for i in range(first, first + count)]
    hosts = json.dumps([allowed_host])
    credential_rows = []
    for name in names:
        value = f"sk_seed_{name}_{new_api_key()}"
        sealed = keys.seal_credential(value, team_id=team_id, name=name, key_version=1)
        credential_rows.append((team_id, name, hosts, sealed, value_hint(value)))
    api_keys = [new_api_key() for _ in names]
    agent_rows = [
        (team_id, name, keys.hash_api_key(key)) for name, key in zip(names, api_keys, strict=True)
    ]
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO credentials (team_id, name, allowed_hosts, sealed_value, key_version,"
                " value_hint) VALUES ($1, $2, $3::jsonb, $4, 1, $5)",
                credential_rows,
            )
            await conn.executemany(
                "INSERT INTO agents (team_id, id, api_key_hash) VALUES ($1, $2, $3)", agent_rows
            )
            await conn.executemany(
                "INSERT INTO agent_credentials (team_id, agent_id, credential_name)"
                " VALUES ($1, $2, $2)",
                [(team_id, name) for name in names],
            )
        await conn.execute("ANALYZE credentials, agents, agent_credentials")
    finally:
        await conn.close()
    return api_keys


async def create_database(database_url: str, name: str) -> str:
    """Create an empty database ``name`` on the same server; returns its URL."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def counts(database_url: str) -> dict[str, int]:
    """How many agents and credentials the database holds now."""
    conn = await asyncpg.connect(database_url)
    try:
        return {
            "agents": int(await conn.fetchval("SELECT count(*) FROM agents")),
            "credentials": int(await conn.fetchval("SELECT count(*) FROM credentials")),
        }
    finally:
        await conn.close()
