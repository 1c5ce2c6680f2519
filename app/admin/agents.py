"""``/team/agents``: API keys for agents. A key is shown once, at creation or rotation.

Owners and admins manage every key. Approvers see and manage only the keys
they created, may grant them only credentials assigned to themselves, and
may give them neither roles nor ``all_credentials``.
"""

from __future__ import annotations

from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, path_value, respond
from app.admin.schemas import (
    AgentCreateBody,
    AgentKeyResult,
    AgentList,
    AgentOut,
    AgentState,
    AgentUpdateBody,
    Deleted,
)
from app.errors import NotFound, PermissionDenied, ResourceNotFound
from app.store import agents as agents_store
from app.store import db, members
from app.store.db import Conn
from app.store.events import team_changed
from app.store.models import Agent
from app.webstate import runtime

blueprint = Blueprint("agents", __name__)

_ID = {"agent_id": agents_store.ID_PATTERN.pattern}
KEY_MESSAGE = "Store this key now; TAP keeps only a hash and cannot show it again."


def agent_out(agent: Agent) -> AgentOut:
    return AgentOut(
        id=agent.id,
        description=agent.description,
        enabled=agent.enabled,
        rate_limit_per_hour=agent.rate_limit_per_hour,
        all_credentials=agent.all_credentials,
        roles=list(agent.roles),
        credentials=list(agent.direct_credentials),
        effective_credentials=sorted(agent.effective_credentials),
        owner_user_id=agent.owner_user_id,
        created_at=agent.created_at,
    )


def _visible(caller: Caller, agent: Agent) -> bool:
    return caller.can("manage_agents") or agent.owner_user_id == caller.user_id


async def _own_agent(conn: Conn, caller: Caller, raw_id: str) -> Agent:
    """The agent named in the path, if the caller may manage it. Raises ResourceNotFound."""
    if not (caller.can("manage_agents") or caller.can("manage_own_agents")):
        raise PermissionDenied("You may not manage API keys.")
    agent_id = path_value(raw_id, agents_store.ID_PATTERN, "agent")
    try:
        found = await agents_store.get(conn, caller.team_id, agent_id)
    except NotFound:
        raise ResourceNotFound(f"agent {agent_id!r} does not exist") from None
    if not _visible(caller, found):
        raise ResourceNotFound(f"agent {agent_id!r} does not exist")
    return found


@operation(
    blueprint,
    "GET",
    "/team/agents",
    summary="API keys of the team (approvers: only their own).",
    responses={200: AgentList},
    errors=SESSION_ERRORS,
)
async def list_agents(caller: Caller) -> Response:
    if not (caller.can("manage_agents") or caller.can("manage_own_agents")):
        raise PermissionDenied("You may not manage API keys.")
    async with db.transaction(runtime().pool) as conn:
        rows = await agents_store.list_all(conn, caller.team_id)
    return respond(AgentList(agents=[agent_out(a) for a in rows if _visible(caller, a)]))


@operation(
    blueprint,
    "POST",
    "/team/agents",
    summary="Create an API key; the key is in this response only.",
    body=AgentCreateBody,
    responses={201: AgentKeyResult},
    errors=(400, 404, 409, *SESSION_ERRORS),
)
async def create_agent(body: AgentCreateBody, caller: Caller) -> Response:
    state = runtime()
    async with db.transaction(state.pool) as conn:
        if not caller.can("manage_agents"):
            if not caller.can("manage_own_agents"):
                raise PermissionDenied("You may not create API keys.")
            if body.roles or body.all_credentials:
                raise PermissionDenied(
                    "Only owners and admins can give a key roles or all credentials."
                )
            assigned = await members.assigned_credentials(conn, caller.team_id, caller.user_id)
            outside = sorted(set(body.credentials) - assigned)
            if outside:
                raise PermissionDenied("You can only grant credentials assigned to you.")
        agent, api_key = await agents_store.create(
            conn,
            state.keys,
            team_id=caller.team_id,
            agent_id=body.id,
            description=body.description,
            roles=body.roles,
            credentials=body.credentials,
            rate_limit_per_hour=body.rate_limit_per_hour,
            all_credentials=body.all_credentials,
            owner_user_id=caller.user_id,
        )
    return respond(
        AgentKeyResult(id=agent.id, api_key=api_key, message=KEY_MESSAGE, agent=agent_out(agent)),
        201,
    )


@operation(
    blueprint,
    "GET",
    "/team/agents/<agent_id>",
    summary="One API key with its effective credentials.",
    responses={200: AgentOut},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_ID,
)
async def get_agent(agent_id: str, caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        agent = await _own_agent(conn, caller, agent_id)
    return respond(agent_out(agent))


@operation(
    blueprint,
    "PUT",
    "/team/agents/<agent_id>",
    summary="Change a key's description, roles, direct credentials or rate limit; only the fields sent change.",
    body=AgentUpdateBody,
    responses={200: AgentOut},
    errors=(400, 404, *SESSION_ERRORS),
    path_patterns=_ID,
)
async def update_agent(agent_id: str, body: AgentUpdateBody, caller: Caller) -> Response:
    sent = body.model_fields_set
    async with db.transaction(runtime().pool) as conn:
        agent = await _own_agent(conn, caller, agent_id)
        if not caller.can("manage_agents"):
            # NOTE: the same limits as at creation, so an approver cannot widen a
            # key after the fact: no roles, and only credentials assigned to them.
            if body.roles:
                raise PermissionDenied("Only owners and admins can give a key roles.")
            if body.credentials:
                assigned = await members.assigned_credentials(
                    conn, caller.team_id, caller.user_id
                )
                if set(body.credentials) - assigned:
                    raise PermissionDenied("You can only grant credentials assigned to you.")
        updated = await agents_store.update(
            conn,
            caller.team_id,
            agent.id,
            description=body.description,
            roles=body.roles,
            credentials=body.credentials,
            rate_limit_per_hour=body.rate_limit_per_hour,
            clear_rate_limit="rate_limit_per_hour" in sent and body.rate_limit_per_hour is None,
        )
    return respond(agent_out(updated))


def _refuse_if_manager_disabled(caller: Caller, agent: Agent) -> None:
    """Raises PermissionDenied when a manager disabled the key and the caller is not one.

    NOTE: otherwise a member demoted or restricted by an owner could undo the
    owner's decision on their own key (re-enable it, or mint a fresh key).
    """
    if not agent.enabled and agent.disabled_by_manager and not caller.is_manager:
        raise PermissionDenied("An owner or admin disabled this key; only they can re-enable it.")


async def _set_enabled(caller: Caller, agent_id: str, enabled: bool) -> Response:
    async with db.transaction(runtime().pool) as conn:
        agent = await _own_agent(conn, caller, agent_id)
        if enabled:
            _refuse_if_manager_disabled(caller, agent)
        await agents_store.set_enabled(
            conn,
            caller.team_id,
            agent.id,
            enabled,
            by=caller.user_id,
            by_manager=caller.is_manager,
        )
    return respond(AgentState(id=agent.id, enabled=enabled))


@operation(
    blueprint,
    "POST",
    "/team/agents/<agent_id>/enable",
    summary="Let the key call /forward again (a key a manager disabled: managers only).",
    responses={200: AgentState},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_ID,
)
async def enable_agent(agent_id: str, caller: Caller) -> Response:
    return await _set_enabled(caller, agent_id, True)


@operation(
    blueprint,
    "POST",
    "/team/agents/<agent_id>/disable",
    summary="Stop the key at once.",
    responses={200: AgentState},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_ID,
)
async def disable_agent(agent_id: str, caller: Caller) -> Response:
    return await _set_enabled(caller, agent_id, False)


@operation(
    blueprint,
    "POST",
    "/team/agents/<agent_id>/rotate-key",
    summary="Replace the key; the old one stops working at once. The new key is in this response only.",
    responses={200: AgentKeyResult},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_ID,
)
async def rotate_agent_key(agent_id: str, caller: Caller) -> Response:
    state = runtime()
    async with db.transaction(state.pool) as conn:
        agent = await _own_agent(conn, caller, agent_id)
        _refuse_if_manager_disabled(caller, agent)
        api_key = await agents_store.rotate_key(conn, state.keys, caller.team_id, agent.id)
        await team_changed(conn, caller.team_id)
    return respond(
        AgentKeyResult(id=agent.id, api_key=api_key, message=KEY_MESSAGE, agent=agent_out(agent))
    )


@operation(
    blueprint,
    "DELETE",
    "/team/agents/<agent_id>",
    summary="Delete the key.",
    responses={200: Deleted},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_ID,
)
async def delete_agent(agent_id: str, caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        agent = await _own_agent(conn, caller, agent_id)
        await agents_store.delete(conn, caller.team_id, agent.id)
        await team_changed(conn, caller.team_id)
    return respond(Deleted(name=agent.id, deleted=True))
