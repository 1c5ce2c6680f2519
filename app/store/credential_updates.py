"""Changing a credential's configuration after creation (never its value; see credentials.set_value).

Only the fields the caller names change; every new value passes the same
normalisers as creation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from app.errors import InvalidInput, NotFound
from app.store import credentials as credentials_store
from app.store.db import Conn
from app.store.models import Credential


async def update(
    conn: Conn,
    *,
    team_id: str,
    name: str,
    description: str | None = None,
    api_base: str | None = None,
    clear_api_base: bool = False,
    relative_target: bool | None = None,
    auth_header_format: str | None = None,
    clear_auth_header_format: bool = False,
    auth_bindings: Sequence[dict[str, Any]] | None = None,
    allowed_hosts: Sequence[str] | None = None,
) -> Credential:
    """Apply a partial update. Raises NotFound, InvalidInput."""
    current = await conn.fetchrow(
        "SELECT api_base, relative_target, auth_header_format, auth_bindings, allowed_hosts, description"
        " FROM credentials WHERE team_id = $1 AND name = $2 FOR UPDATE",
        team_id,
        name,
    )
    if current is None:
        raise NotFound(f"credential {name!r} does not exist")
    base = None if clear_api_base else current["api_base"]
    if api_base is not None:
        base = credentials_store.normalize_api_base(api_base)
    relative = current["relative_target"] if relative_target is None else relative_target
    if relative and base is None:
        raise InvalidInput("api_base", "a relative-target credential needs an api_base")
    header_format = None if clear_auth_header_format else current["auth_header_format"]
    if auth_header_format is not None:
        if "{value" not in auth_header_format:
            raise InvalidInput(
                "auth_header_format", "the format must contain {value} or {value.<field>}"
            )
        header_format = auth_header_format
    bindings_json = current["auth_bindings"]
    if auth_bindings is not None:
        bindings = credentials_store.parse_bindings(auth_bindings)
        bindings_json = json.dumps([{"header": b.header, "format": b.format} for b in bindings])
    hosts_json = current["allowed_hosts"]
    if allowed_hosts is not None:
        hosts_json = json.dumps(list(credentials_store.normalize_allowed_hosts(allowed_hosts)))
    if not relative and not json.loads(hosts_json):
        raise InvalidInput(
            "allowed_hosts", "allowed_hosts is required unless the credential is relative_target"
        )
    await conn.execute(
        "UPDATE credentials SET description = $3, api_base = $4, relative_target = $5, auth_header_format = $6,"
        " auth_bindings = $7, allowed_hosts = $8, updated_at = now() WHERE team_id = $1 AND name = $2",
        team_id,
        name,
        current["description"] if description is None else description.strip(),
        base,
        relative,
        header_format,
        bindings_json,
        hosts_json,
    )
    return await credentials_store.get(conn, team_id, name)
