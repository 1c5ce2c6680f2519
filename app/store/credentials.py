"""Credentials: configuration rows plus a sealed value that only the pipeline opens.

Values are write-only: this module seals them on the way in and hands back
:class:`~app.store.models.Credential` rows whose ``sealed_value`` is still
ciphertext. :func:`open_value` is the one place a value is unsealed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import asyncpg

from app.credential_kinds import KINDS, CredentialKind, kind_named
from app.crypto import KeyRing, value_hint
from app.errors import AlreadyExists, InvalidInput, NotFound
from app.secret import Secret
from app.store import events, key_versions
from app.store.db import Conn, Queryable, translated
from app.store.models import AUTH_TYPES, AuthBinding, Credential

NAME_PATTERN: Final = re.compile(r"^[a-z0-9-]{1,64}$")
_HOST_PATTERN: Final = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)
_HEADER_NAME: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
MAX_VALUE_BYTES: Final = 64 * 1024

_COLUMNS: Final = (
    "team_id, name, description, auth_type, connector, api_base, relative_target, auth_header_format, "
    "auth_bindings, allowed_hosts, allow_http, sealed_value, key_version, value_hint, created_at, updated_at, "
    "allow_unscannable_responses, verify_url"
)


def normalize_name(raw: str) -> str:
    """Trim and lowercase a credential name. Raises InvalidInput unless it is 1-64 of [a-z0-9-]."""
    name = raw.strip().lower()
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            "name", "credential names are 1-64 lowercase alphanumeric characters or hyphens"
        )
    return name


def normalize_allowed_hosts(hosts: Sequence[str]) -> tuple[str, ...]:
    """Lowercase host names or ``*.suffix`` patterns. Raises InvalidInput on URLs, ports or stray ``*``."""
    result: list[str] = []
    for raw in hosts:
        host = raw.strip().lower().rstrip(".")
        if not host:
            continue
        if not _HOST_PATTERN.match(host):
            raise InvalidInput(
                "allowed_hosts",
                f"{raw.strip()!r} is not a host name (no scheme, port, path; '*.' only as a prefix)",
            )
        if host not in result:
            result.append(host)
    return tuple(result)


def normalize_value(value: str | dict[str, Any]) -> str:
    """The stored text of a value: a string as is, a JSON object compact with sorted keys.

    A string that is itself a JSON object is normalised the same way, so
    ``{"a": "x"}`` typed at a prompt and sent through the API store alike.
    """
    if isinstance(value, dict):
        obj: Any = value
    else:
        text = value.strip()
        if not text:
            raise InvalidInput("value", "the value is empty")
        try:
            obj = json.loads(text) if text.startswith("{") else None
        except ValueError:
            obj = None
        if obj is None:
            if len(text.encode()) > MAX_VALUE_BYTES:
                raise InvalidInput("value", f"the value is larger than {MAX_VALUE_BYTES} bytes")
            return text
    if not isinstance(obj, dict) or not obj:
        raise InvalidInput("value", "expected a string or a non-empty JSON object")
    if not all(isinstance(v, str) for v in obj.values()):
        raise InvalidInput("value", "every field of a JSON-object value must be a string")
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise InvalidInput("value", f"the value is larger than {MAX_VALUE_BYTES} bytes")
    return text


def normalize_api_base(api_base: str | None) -> str | None:
    if api_base is None or not api_base.strip():
        return None
    base = api_base.strip().rstrip("/")
    parts = urlsplit(base)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username
        or parts.password
    ):
        raise InvalidInput("api_base", "expected an http(s) URL with a host and no user info")
    if parts.query or parts.fragment:
        raise InvalidInput("api_base", "must not carry a query or fragment")
    return base


def parse_bindings(raw: Sequence[AuthBinding | dict[str, Any]]) -> tuple[AuthBinding, ...]:
    bindings: list[AuthBinding] = []
    for item in raw:
        binding = (
            item
            if isinstance(item, AuthBinding)
            else AuthBinding(str(item.get("header", "")), str(item.get("format", "")))
        )
        if not _HEADER_NAME.match(binding.header):
            raise InvalidInput("auth_bindings", f"{binding.header!r} is not a header name")
        if "{value}" not in binding.format and "{value." not in binding.format:
            raise InvalidInput(
                "auth_bindings", "each format must contain {value} or {value.<field>}"
            )
        bindings.append(binding)
    return tuple(bindings)


def _bindings_json(bindings: Sequence[AuthBinding]) -> str:
    return json.dumps([{"header": b.header, "format": b.format} for b in bindings])


def from_row(row: asyncpg.Record) -> Credential:
    return Credential(
        team_id=row["team_id"],
        name=row["name"],
        description=row["description"],
        auth_type=row["auth_type"],
        connector=row["connector"],
        api_base=row["api_base"],
        relative_target=row["relative_target"],
        auth_header_format=row["auth_header_format"],
        auth_bindings=tuple(
            AuthBinding(b["header"], b["format"]) for b in json.loads(row["auth_bindings"])
        ),
        allowed_hosts=tuple(json.loads(row["allowed_hosts"])),
        allow_http=row["allow_http"],
        sealed_value=row["sealed_value"],
        key_version=row["key_version"],
        value_hint=row["value_hint"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        allow_unscannable_responses=row["allow_unscannable_responses"],
        verify_url=row["verify_url"],
    )


async def create(
    conn: Conn,
    keys: KeyRing,
    *,
    team_id: str,
    name: str,
    description: str = "",
    auth_type: str = "api-key",
    api_base: str | None = None,
    relative_target: bool = False,
    auth_header_format: str | None = None,
    auth_bindings: Sequence[AuthBinding | dict[str, Any]] = (),
    allowed_hosts: Sequence[str] = (),
    allow_http: bool = False,
    value: Secret | None = None,
    allow_unscannable_responses: bool = False,
) -> Credential:
    """Create a credential. Raises InvalidInput (InvalidCredentialValue naming the
    value's field), or AlreadyExists for a taken name."""
    name = normalize_name(name)
    if auth_type not in AUTH_TYPES:
        raise InvalidInput("auth", f"expected one of {', '.join(AUTH_TYPES)}")
    kind = kind_named(auth_type)
    base = normalize_api_base(api_base)
    if kind.connector == "sidecar" and base is None:
        raise InvalidInput("api_base", "a sidecar credential needs the sidecar's URL as api_base")
    value = checked_value(kind, value)
    if relative_target and base is None:
        raise InvalidInput("api_base", "a relative-target credential needs an api_base")
    if auth_header_format is not None and "{value" not in auth_header_format:
        raise InvalidInput("header_format", "the format must contain {value} or {value.<field>}")
    bindings = parse_bindings(auth_bindings)
    hosts = normalize_allowed_hosts(allowed_hosts)
    version = await key_versions.write_version(conn)
    keys = await key_versions.ring_for(conn, keys, version)
    sealed, hint = _seal(keys, team_id, name, version, value)
    try:
        row = await conn.fetchrow(
            f"INSERT INTO credentials (team_id, name, description, auth_type, api_base, relative_target,"
            f" auth_header_format, auth_bindings, allowed_hosts, allow_http, sealed_value, key_version,"
            f" value_hint, allow_unscannable_responses, connector)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $13, $10, $14, $11, $12, $15)"
            f" RETURNING {_COLUMNS}",
            team_id,
            name,
            description.strip(),
            auth_type,
            base,
            relative_target,
            auth_header_format,
            _bindings_json(bindings),
            json.dumps(list(hosts)),
            sealed,
            hint,
            allow_unscannable_responses,
            allow_http,
            version,
            kind.connector,
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(f"a credential named {name!r} already exists") from None
    assert row is not None  # INSERT ... RETURNING always yields the row
    await events.team_changed(conn, team_id)
    return from_row(row)


def checked_value(kind: CredentialKind, value: Secret | None) -> Secret | None:
    """``value`` once it fits ``kind``; a structured value comes back as its checked fields.

    Raises:
        InvalidCredentialValue: naming the field that does not fit.
    """
    if value is None:
        return None
    fields = kind.validate(value.reveal())
    return value if fields is None else Secret(json.dumps(fields))


def _seal(
    keys: KeyRing, team_id: str, name: str, key_version: int, value: Secret | None
) -> tuple[bytes | None, str | None]:
    if value is None:
        return None, None
    text = normalize_value(value.reveal())
    return keys.seal_credential(
        text, team_id=team_id, name=name, key_version=key_version
    ), value_hint(text)


async def set_value(conn: Conn, keys: KeyRing, team_id: str, name: str, value: Secret) -> None:
    """Replace a credential's value, checked against its kind and sealed afresh under the
    current key version.

    Raises NotFound, or InvalidCredentialValue naming the field that does not fit.
    """
    auth_type = await conn.fetchval(
        "SELECT auth_type FROM credentials WHERE team_id = $1 AND name = $2 FOR UPDATE",
        team_id,
        name,
    )
    if auth_type is None:
        raise NotFound(f"credential {name!r} does not exist")
    checked = checked_value(KINDS.get(auth_type, KINDS["api-key"]), value)
    assert checked is not None
    value = checked
    version = await key_versions.write_version(conn)
    keys = await key_versions.ring_for(conn, keys, version)
    sealed, hint = _seal(keys, team_id, name, version, value)
    await conn.execute(
        "UPDATE credentials SET sealed_value = $3, value_hint = $4, key_version = $5,"
        " updated_at = now() WHERE team_id = $1 AND name = $2",
        team_id,
        name,
        sealed,
        hint,
        version,
    )
    await events.team_changed(conn, team_id)


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
    allow_unscannable_responses: bool | None = None,
    allow_http: bool | None = None,
) -> Credential:
    """Change the configuration, never the value (see :func:`set_value`). Raises NotFound, InvalidInput.

    Only the fields the caller names change; every new value passes the same
    normalisers as creation.
    """
    current = await conn.fetchrow(
        "SELECT api_base, relative_target, auth_header_format, auth_bindings, allowed_hosts, description,"
        " allow_unscannable_responses, allow_http"
        " FROM credentials WHERE team_id = $1 AND name = $2 FOR UPDATE",
        team_id,
        name,
    )
    if current is None:
        raise NotFound(f"credential {name!r} does not exist")
    base = None if clear_api_base else current["api_base"]
    if api_base is not None:
        base = normalize_api_base(api_base)
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
        bindings_json = _bindings_json(parse_bindings(auth_bindings))
    hosts_json = current["allowed_hosts"]
    if allowed_hosts is not None:
        hosts_json = json.dumps(list(normalize_allowed_hosts(allowed_hosts)))
    if not relative and not json.loads(hosts_json):
        raise InvalidInput(
            "allowed_hosts", "allowed_hosts is required unless the credential is relative_target"
        )
    await conn.execute(
        "UPDATE credentials SET description = $3, api_base = $4, relative_target = $5, auth_header_format = $6,"
        " auth_bindings = $7, allowed_hosts = $8, allow_unscannable_responses = $9, allow_http = $10,"
        " updated_at = now()"
        " WHERE team_id = $1 AND name = $2",
        team_id,
        name,
        current["description"] if description is None else description.strip(),
        base,
        relative,
        header_format,
        bindings_json,
        hosts_json,
        current["allow_unscannable_responses"]
        if allow_unscannable_responses is None
        else allow_unscannable_responses,
        current["allow_http"] if allow_http is None else allow_http,
    )
    return await get(conn, team_id, name)


async def set_verify_url(conn: Conn, team_id: str, name: str, verify_url: str | None) -> None:
    """Set (or clear, with ``None``) the URL verify calls. The caller has checked it. Raises NotFound."""
    status = await conn.execute(
        "UPDATE credentials SET verify_url = $3, updated_at = now() WHERE team_id = $1 AND name = $2",
        team_id,
        name,
        verify_url,
    )
    if status == "UPDATE 0":
        raise NotFound(f"credential {name!r} does not exist")


async def get(conn: Conn, team_id: str, name: str) -> Credential:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM credentials WHERE team_id = $1 AND name = $2", team_id, name
    )
    if row is None:
        raise NotFound(f"credential {name!r} does not exist")
    return from_row(row)


async def find(conn: Conn, team_id: str, name: str) -> Credential | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM credentials WHERE team_id = $1 AND name = $2", team_id, name
    )
    return from_row(row) if row is not None else None


@translated
async def list_all(conn: Queryable, team_id: str) -> list[Credential]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM credentials WHERE team_id = $1 ORDER BY name", team_id
    )
    return [from_row(row) for row in rows]


async def existing_names(conn: Conn, team_id: str, names: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT name FROM credentials WHERE team_id = $1 AND name = ANY($2::text[])",
        team_id,
        list(names),
    )
    return {row["name"] for row in rows}


async def delete(conn: Conn, team_id: str, name: str) -> None:
    status = await conn.execute(
        "DELETE FROM credentials WHERE team_id = $1 AND name = $2", team_id, name
    )
    if status == "DELETE 0":
        raise NotFound(f"credential {name!r} does not exist")
    await events.team_changed(conn, team_id)


def open_value(keys: KeyRing, credential: Credential) -> Secret | None:
    """Unseal a credential's value. Raises CryptoError if the ciphertext belongs to another row."""
    if credential.sealed_value is None:
        return None
    return Secret(
        keys.unseal_credential(
            credential.sealed_value,
            team_id=credential.team_id,
            name=credential.name,
            key_version=credential.key_version,
        )
    )
