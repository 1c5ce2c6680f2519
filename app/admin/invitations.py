"""``/user/invites``: the invites addressed to the signed-in account, which wait for its explicit accept.

NOTE: nothing joins a team on its own. Login used to join every team that
had invited the address and make the newest the active team, so a stranger
could make their team the victim's active team and collect the credential the
victim added next. Now an invite is listed here until the account accepts or
declines it, and accepting never switches the session's active team.
"""

from __future__ import annotations

from typing import Final

from quart import Blueprint, Response

from app.admin import signin
from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, path_value, respond
from app.admin.members import INVITE_ID
from app.admin.schemas import Deleted, PendingInvite, PendingInviteList, TeamsResult
from app.errors import ResourceNotFound
from app.store import db, invites, members
from app.store.db import Conn
from app.webstate import runtime

blueprint = Blueprint("invitations", __name__)

_ID: Final = {"invite_id": INVITE_ID.pattern}


def _pending(invite: invites.Invite) -> PendingInvite:
    return PendingInvite(
        id=invite.id,
        team_id=invite.team_id,
        team_name=invite.team_name,
        member_role=invite.member_role,
        expires_at=invite.expires_at,
        created_at=invite.created_at,
    )


async def _mine(conn: Conn, caller: Caller, raw_id: str) -> invites.Invite:
    """The caller's unexpired invite named in the path, locked. Raises ResourceNotFound."""
    invite_id = path_value(raw_id, INVITE_ID, "invite")
    invite = await invites.pending_for_email_by_id(conn, caller.email, invite_id)
    if invite is None:
        raise ResourceNotFound("no such pending invite for this account")
    return invite


@operation(
    blueprint,
    "GET",
    "/user/invites",
    summary="Unexpired invites addressed to the signed-in account's email.",
    responses={200: PendingInviteList},
    errors=SESSION_ERRORS,
)
async def list_invites(caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        pending = await invites.pending_for_email(conn, caller.email)
    return respond(PendingInviteList(invites=[_pending(i) for i in pending]))


@operation(
    blueprint,
    "POST",
    "/user/invites/<invite_id>/accept",
    summary="Join the team of one pending invite; the session's active team does not change.",
    responses={200: TeamsResult},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_ID,
)
async def accept_invite(invite_id: str, caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        invite = await _mine(conn, caller, invite_id)
        await signin.join_team(conn, caller.user_id, invite)
        memberships = await members.teams_of(conn, caller.user_id)
    return respond(
        TeamsResult(active_team_id=caller.team_id, teams=[signin.team_ref(m) for m in memberships])
    )


@operation(
    blueprint,
    "DELETE",
    "/user/invites/<invite_id>",
    summary="Decline one pending invite.",
    responses={200: Deleted},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_ID,
)
async def decline_invite(invite_id: str, caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        invite = await _mine(conn, caller, invite_id)
        await invites.consume(conn, invite.id)
    return respond(Deleted(name=invite.id, deleted=True))
