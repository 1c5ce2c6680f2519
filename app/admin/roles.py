"""``/team/roles``: named bundles of credentials given to agents (owners and admins only)."""

from __future__ import annotations

from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, path_value, respond
from app.admin.credentials import credential_name
from app.admin.schemas import (
    CredentialRef,
    Deleted,
    RoleCreateBody,
    RoleList,
    RoleOut,
    RoleUpdateBody,
)
from app.store import credentials as credentials_store
from app.store import db
from app.store import roles as roles_store
from app.store.events import team_changed
from app.store.models import Role
from app.webstate import runtime

blueprint = Blueprint("roles", __name__)

_ROLE = {"name": roles_store.NAME_PATTERN.pattern}


def _role_name(raw: str) -> str:
    return path_value(raw, roles_store.NAME_PATTERN, "role")


def role_out(role: Role) -> RoleOut:
    return RoleOut(
        name=role.name,
        description=role.description,
        rate_limit_per_hour=role.rate_limit_per_hour,
        credentials=list(role.credentials),
    )


@operation(
    blueprint,
    "GET",
    "/team/roles",
    summary="Roles of the team.",
    responses={200: RoleList},
    errors=SESSION_ERRORS,
    permission="manage_roles",
)
async def list_roles(caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        rows = await roles_store.list_all(conn, caller.team_id)
    return respond(RoleList(roles=[role_out(r) for r in rows]))


@operation(
    blueprint,
    "POST",
    "/team/roles",
    summary="Create a role.",
    body=RoleCreateBody,
    responses={201: RoleOut},
    errors=(400, 404, 409, *SESSION_ERRORS),
    permission="manage_roles",
)
async def create_role(body: RoleCreateBody, caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        role = await roles_store.create(
            conn,
            team_id=caller.team_id,
            name=body.name,
            description=body.description,
            credentials=body.credentials,
            rate_limit_per_hour=body.rate_limit_per_hour,
        )
        await team_changed(conn, caller.team_id)
    return respond(role_out(role), 201)


@operation(
    blueprint,
    "GET",
    "/team/roles/<name>",
    summary="One role.",
    responses={200: RoleOut},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_ROLE,
    permission="manage_roles",
)
async def get_role(name: str, caller: Caller) -> Response:
    name = _role_name(name)
    async with db.transaction(runtime().pool) as conn:
        role = await roles_store.get(conn, caller.team_id, name)
    return respond(role_out(role))


@operation(
    blueprint,
    "PUT",
    "/team/roles/<name>",
    summary="Change a role's description, credentials (replaced as a whole) or rate limit.",
    body=RoleUpdateBody,
    responses={200: RoleOut},
    errors=(400, 404, *SESSION_ERRORS),
    path_patterns=_ROLE,
    permission="manage_roles",
)
async def update_role(name: str, body: RoleUpdateBody, caller: Caller) -> Response:
    name = _role_name(name)
    async with db.transaction(runtime().pool) as conn:
        role = await roles_store.update(
            conn,
            caller.team_id,
            name,
            description=body.description,
            credentials=body.credentials,
            rate_limit_per_hour=body.rate_limit_per_hour,
            clear_rate_limit="rate_limit_per_hour" in body.model_fields_set
            and body.rate_limit_per_hour is None,
        )
    return respond(role_out(role))


@operation(
    blueprint,
    "DELETE",
    "/team/roles/<name>",
    summary="Delete a role; agents lose what it granted.",
    responses={200: Deleted},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_ROLE,
    permission="manage_roles",
)
async def delete_role(name: str, caller: Caller) -> Response:
    name = _role_name(name)
    async with db.transaction(runtime().pool) as conn:
        await roles_store.delete(conn, caller.team_id, name)
        await team_changed(conn, caller.team_id)
    return respond(Deleted(name=name, deleted=True))


@operation(
    blueprint,
    "POST",
    "/team/roles/<name>/credentials",
    summary="Add a credential to a role.",
    body=CredentialRef,
    responses={200: RoleOut},
    errors=(400, 404, *SESSION_ERRORS),
    path_patterns=_ROLE,
    permission="manage_roles",
)
async def add_role_credential(name: str, body: CredentialRef, caller: Caller) -> Response:
    name = _role_name(name)
    async with db.transaction(runtime().pool) as conn:
        await roles_store.add_credential(conn, caller.team_id, name, body.credential)
        role = await roles_store.get(conn, caller.team_id, name)
        await team_changed(conn, caller.team_id)
    return respond(role_out(role))


@operation(
    blueprint,
    "DELETE",
    "/team/roles/<name>/credentials/<credential>",
    summary="Remove a credential from a role.",
    responses={200: RoleOut},
    errors=(404, *SESSION_ERRORS),
    path_patterns={**_ROLE, "credential": credentials_store.NAME_PATTERN.pattern},
    permission="manage_roles",
)
async def remove_role_credential(name: str, credential: str, caller: Caller) -> Response:
    name = _role_name(name)
    credential = credential_name(credential)
    async with db.transaction(runtime().pool) as conn:
        await roles_store.remove_credential(conn, caller.team_id, name, credential)
        role = await roles_store.get(conn, caller.team_id, name)
        await team_changed(conn, caller.team_id)
    return respond(role_out(role))
