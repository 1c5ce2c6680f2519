"""Signing a person in: joining a team by an accepted invite, a full session, and its answer.

Both ways in end here: ``POST /login`` (an existing account; it joins nothing)
and ``POST /team/members/accept`` (a new account made from one invite whose
link was emailed). Either way the answer is a
:class:`~app.admin.schemas.LoginResult` carrying a new full session.
"""

from __future__ import annotations

import datetime as dt

from app.admin.auth import CAPABILITIES, start_session
from app.admin.schemas import LoginResult, TeamRef
from app.store import invites, members, users
from app.store.db import Conn


def team_ref(membership: members.TeamMembership) -> TeamRef:
    return TeamRef(
        team_id=membership.team_id,
        team_name=membership.team_name,
        member_role=membership.member_role,
    )


async def join_team(
    conn: Conn, user_id: str, invite: invites.Invite
) -> members.TeamMembership | None:
    """Join the team ``invite`` is for and use the invite up; None if already a member."""
    joined: members.TeamMembership | None = None
    if not await members.is_member(conn, invite.team_id, user_id):
        await members.add(conn, user_id=user_id, team_id=invite.team_id, role=invite.member_role)
        joined = members.TeamMembership(
            team_id=invite.team_id,
            team_name=invite.team_name,
            member_role=invite.member_role,
            created_at=dt.datetime.now(dt.UTC),
        )
    await invites.consume(conn, invite.id)
    return joined


async def sign_in(
    conn: Conn,
    user: users.User,
    *,
    active: members.TeamMembership,
    teams: list[members.TeamMembership],
    joined: list[members.TeamMembership],
) -> LoginResult:
    """Start a full session of ``user`` in the ``active`` team and describe it."""
    token, expires_at = await start_session(
        conn, user_id=user.id, team_id=active.team_id, scope="full"
    )
    return LoginResult(
        session_token=token,
        expires_at=expires_at,
        user_id=user.id,
        email=user.email,
        team_id=active.team_id,
        team_name=active.team_name,
        member_role=active.member_role,
        capabilities=sorted(CAPABILITIES[active.member_role]),
        teams=[team_ref(m) for m in teams],
        joined_teams=[team_ref(m) for m in joined],
    )
