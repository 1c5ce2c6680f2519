"""``GET /team`` and ``PUT /team/settings`` for the caller's active team."""

from __future__ import annotations

from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, respond
from app.admin.schemas import SettingsBody, SettingsResult, TeamResult
from app.errors import InvalidApprovalMode
from app.store import db, teams
from app.store.events import team_changed
from app.store.models import APPROVAL_MODES
from app.webstate import runtime

blueprint = Blueprint("team", __name__)


@operation(
    blueprint,
    "GET",
    "/team",
    summary="The active team.",
    responses={200: TeamResult},
    errors=SESSION_ERRORS,
)
async def get_team(caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        team = await teams.get(conn, caller.team_id)
    return respond(
        TeamResult(
            id=team.id,
            name=team.name,
            default_approval_mode=team.default_approval_mode,
            created_at=team.created_at,
            member_role=caller.role,  # type: ignore[arg-type]
        )
    )


@operation(
    blueprint,
    "PUT",
    "/team/settings",
    summary="Set the team's default approval mode (gated or autonomous) for credentials without a policy.",
    body=SettingsBody,
    responses={200: SettingsResult},
    errors=(400, *SESSION_ERRORS),
    permission="manage_settings",
)
async def put_settings(body: SettingsBody, caller: Caller) -> Response:
    mode = body.default_approval_mode.strip().lower()
    if mode not in APPROVAL_MODES:
        raise InvalidApprovalMode("default_approval_mode must be 'gated' or 'autonomous'")
    async with db.transaction(runtime().pool) as conn:
        await teams.set_default_mode(conn, caller.team_id, mode)
        await team_changed(conn, caller.team_id)
    return respond(SettingsResult(default_approval_mode=mode))
