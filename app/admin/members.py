"""``/team/members``: who is in the team, invites, roles, and approvers' credential assignments.

Invites carry a 256-bit single-use token that expires after 48 hours; only
its keyed hash is stored. A new person accepts with a password
(``POST /team/members/accept``): if the link was emailed, holding it proves
the address and they are signed in; otherwise the account starts unverified
and the usual emailed code completes it. Someone who already has an account
signs in and accepts explicitly (:mod:`app.admin.invitations`); nothing joins
a team on its own. Wrong tokens count against the client address, like wrong
codes.

Removing a member deletes the membership, and with it every assignment;
their sessions in the team stop resolving at once and are deleted, and the
agent keys they made are disabled (as by a manager). Role changes and
assignments take effect on their keys at once (:mod:`app.store.agents`).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

from quart import Blueprint, Response

from app.admin import passwords, signin
from app.admin.auth import Caller, client_address, issue_token
from app.admin.contract import SESSION_ERRORS, operation, path_value, respond
from app.admin.credentials import credential_name
from app.admin.email import Mailer, verification_message
from app.admin.passkey_schemas import LoginOutcome
from app.admin.passkeys import login_step, passkeys_enabled
from app.admin.schemas import (
    AcceptInviteBody,
    AssignBody,
    Assignments,
    Deleted,
    InviteBody,
    InviteInfo,
    InviteInfoQuery,
    InviteOut,
    InviteResult,
    MemberList,
    MemberOut,
    MemberRoleResult,
    Removed,
    RoleBody,
    SignupResult,
)
from app.admin.throttling import GUESSES_PER_ADDRESS, count_attempt, refuse_if_blocked
from app.errors import Conflict, Expired, NotFound, PermissionDenied, ResourceNotFound
from app.store import agents as agents_store
from app.store import credentials as credentials_store
from app.store import db, email_codes, invites, members, sessions, users
from app.store.db import Conn
from app.webstate import runtime

blueprint = Blueprint("members", __name__)

USER_ID: Final = re.compile(r"^usr_[0-9a-f]{32}$")
INVITE_ID: Final = re.compile(r"^inv_[0-9a-f]{32}$")
_MEMBER = {"member_id": USER_ID.pattern}


def _member_id(raw: str) -> str:
    return path_value(raw, USER_ID, "member")


def member_out(member: members.Member) -> MemberOut:
    return MemberOut(
        id=member.user_id,
        email=member.email,
        display_name=member.display_name,
        member_role=member.member_role,
        is_owner=member.member_role == "owner",
        created_at=member.created_at,
    )


def invite_out(invite: invites.Invite) -> InviteOut:
    return InviteOut(
        id=invite.id,
        email=invite.email,
        member_role=invite.member_role,
        expires_at=invite.expires_at,
        created_at=invite.created_at,
    )


@operation(
    blueprint,
    "GET",
    "/team/members",
    summary="Members of the team, and pending invites (managers).",
    responses={200: MemberList},
    errors=SESSION_ERRORS,
    permission="view_team",
)
async def list_members(caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        rows = await members.list_team(conn, caller.team_id)
        pending = (
            await invites.list_team(conn, caller.team_id) if caller.can("invite_members") else []
        )
    return respond(
        MemberList(
            members=[member_out(m) for m in rows], pending_invites=[invite_out(i) for i in pending]
        )
    )


@operation(
    blueprint,
    "POST",
    "/team/members/invite",
    summary="Invite an email to the team. Without email delivery the accept link is returned instead.",
    body=InviteBody,
    responses={201: InviteResult},
    errors=(400, 409, *SESSION_ERRORS),
    permission="invite_members",
)
async def invite_member(body: InviteBody, caller: Caller) -> Response:
    if body.role == "owner" and not caller.can("invite_owners"):
        raise PermissionDenied("Only owners can invite owners.")
    state = runtime()
    token = issue_token()
    async with db.transaction(state.pool) as conn:
        if await members.by_email(conn, caller.team_id, body.email) is not None:
            raise Conflict("this email is already a member of the team", already_member=True)
        invite = await invites.create(
            conn,
            team_id=caller.team_id,
            email=body.email,
            role=body.role,
            token_hash=state.keys.hash_token(token),
            invited_by=caller.user_id,
        )
    accept_url = f"{state.config.dashboard_url}/dashboard?invite_token={quote(token)}"
    text = (
        f"{caller.email} invited you to the team {invite.team_name} on TAP as {invite.member_role}.\n\n"
        f"Accept: {accept_url}\n\nThe link expires in 48 hours.\n"
    )
    delivery = await Mailer(state.config).send(
        to=invite.email, subject=f"You are invited to {invite.team_name} on TAP", text=text
    )
    if delivery.sent:
        # Only a link that went to the address proves, when used, control of it.
        async with db.transaction(state.pool) as conn:
            await invites.mark_emailed(conn, invite.id)
    return respond(
        InviteResult(
            invite_id=invite.id,
            email=invite.email,
            member_role=invite.member_role,
            expires_at=invite.expires_at,
            email_sent=delivery.sent,
            accept_url=None if delivery.sent else accept_url,
        ),
        201,
    )


@operation(
    blueprint,
    "DELETE",
    "/team/members/invites/<invite_id>",
    summary="Cancel a pending invite.",
    responses={200: Deleted},
    errors=(404, *SESSION_ERRORS),
    path_patterns={"invite_id": INVITE_ID.pattern},
    permission="manage_members",
)
async def cancel_invite(invite_id: str, caller: Caller) -> Response:
    invite_id = path_value(invite_id, INVITE_ID, "invite")
    async with db.transaction(runtime().pool) as conn:
        await invites.delete(conn, caller.team_id, invite_id)
    return respond(Deleted(name=invite_id, deleted=True))


async def _invite_by_token(token: str) -> invites.Invite:
    """The invite for ``token``; counts a wrong token against the client address.

    Raises TooManyAttempts, ResourceNotFound, or Expired.
    """
    address_key = (f"invite-address:{client_address()}", GUESSES_PER_ADDRESS)
    await refuse_if_blocked(address_key)
    state = runtime()
    async with db.transaction(state.pool) as conn:
        invite = await invites.by_token_hash(conn, state.keys.hash_token(token))
    if invite is None:
        await count_attempt(address_key)
        raise ResourceNotFound("this invite link is not valid")
    if invite.expired:
        raise Expired("this invite has expired; ask for a new one")
    return invite


@operation(
    blueprint,
    "GET",
    "/invite/info",
    summary="What an invite link is for, and the next step (no sign-in needed).",
    query=InviteInfoQuery,
    responses={200: InviteInfo},
    authenticated=False,
    errors=(400, 404, 410, 429),
)
async def invite_info(query: InviteInfoQuery) -> Response:
    invite = await _invite_by_token(query.token)
    async with db.transaction(runtime().pool) as conn:
        user = await users.by_email(conn, invite.email)
        member = await members.by_email(conn, invite.team_id, invite.email)
    step = "already_member" if member else "login_to_accept" if user else "create_account"
    return respond(
        InviteInfo(
            email=invite.email,
            team_name=invite.team_name,
            member_role=invite.member_role,
            expires_at=invite.expires_at,
            next_step=step,  # type: ignore[arg-type]
        )
    )


@operation(
    blueprint,
    "POST",
    "/team/members/accept",
    summary=(
        "Accept an invite as a new account. If the link was emailed, the account is verified and"
        " signed in (200); otherwise it is created unverified and a 6-digit code is emailed (201)."
    ),
    body=AcceptInviteBody,
    responses={200: LoginOutcome, 201: SignupResult},
    authenticated=False,
    errors=(400, 404, 409, 410, 429),
)
async def accept_invite(body: AcceptInviteBody) -> Response:
    await _invite_by_token(body.token)
    state = runtime()
    password_hash = await passwords.hash_password(body.password)
    code: str | None = None
    async with db.transaction(state.pool) as conn:
        # Re-read under a lock: two accepts of one token must not both succeed.
        invite = await invites.by_token_hash(conn, state.keys.hash_token(body.token), lock=True)
        if invite is None:
            raise ResourceNotFound("this invite link is not valid")
        if await users.by_email(conn, invite.email) is not None:
            raise Conflict(
                "an account with this email exists; log in to join the team", existing_account=True
            )
        # NOTE: the address is proven only if the link reached it by email. A
        # link the inviter was handed (local mode, a failed send) makes an
        # unverified account that cannot sign in until the code sent to the
        # address is entered at /verify-email.
        user = await users.create(
            conn, email=invite.email, password_hash=password_hash, email_verified=invite.emailed
        )
        await signin.join_team(conn, user.id, invite)
        memberships = await members.teams_of(conn, user.id)
        if invite.emailed:
            if passkeys_enabled():
                # NOTE: passkeys are mandatory: the new account enrols one before any session.
                return respond(await login_step(conn, user, memberships[0]))
            result = await signin.sign_in(
                conn, user, active=memberships[0], teams=memberships, joined=memberships
            )
            return respond(result)
        code = await email_codes.issue(
            conn, state.keys, user_id=user.id, purpose="verify_email", enforce_cooldown=False
        )
    subject, text = verification_message(code, invite.team_name)
    delivery = await Mailer(state.config).send(to=user.email, subject=subject, text=text)
    return respond(
        SignupResult(
            user_id=user.id,
            team_id=invite.team_id,
            team_name=invite.team_name,
            email=user.email,
            email_verified=False,
            message="Check your email for a 6-digit verification code, then log in.",
            email_error=delivery.error,
        ),
        201,
    )


@operation(
    blueprint,
    "DELETE",
    "/team/members/<member_id>",
    summary="Remove a member (not yourself, not an owner); their sessions end at once.",
    responses={200: Removed},
    errors=(404, 409, *SESSION_ERRORS),
    path_patterns=_MEMBER,
    permission="manage_members",
)
async def remove_member(member_id: str, caller: Caller) -> Response:
    member_id = _member_id(member_id)
    if member_id == caller.user_id:
        raise Conflict("you cannot remove yourself")
    async with db.transaction(runtime().pool) as conn:
        member = await _member(conn, caller, member_id)
        if member.member_role == "owner":
            raise PermissionDenied("owners cannot be removed; change their role first")
        await members.remove(conn, caller.team_id, member_id)
        await sessions.delete_for_member(conn, member_id, caller.team_id)
        # Their keys stop now, and only a manager can turn them back on.
        await agents_store.disable_owned_by(conn, caller.team_id, member_id, by=caller.user_id)
    return respond(Removed(id=member_id, removed=True))


async def _member(conn: Conn, caller: Caller, member_id: str) -> members.Member:
    try:
        return await members.get(conn, caller.team_id, member_id)
    except NotFound:
        raise ResourceNotFound("no such member in this team") from None


@operation(
    blueprint,
    "PUT",
    "/team/members/<member_id>/role",
    summary="Change a member's role (owners only, not your own).",
    body=RoleBody,
    responses={200: MemberRoleResult},
    errors=(400, 404, 409, *SESSION_ERRORS),
    path_patterns=_MEMBER,
    permission="change_member_roles",
)
async def change_role(member_id: str, body: RoleBody, caller: Caller) -> Response:
    member_id = _member_id(member_id)
    if member_id == caller.user_id:
        raise Conflict("you cannot change your own role")
    async with db.transaction(runtime().pool) as conn:
        await _member(conn, caller, member_id)
        await members.set_role(conn, caller.team_id, member_id, body.role)
    return respond(MemberRoleResult(id=member_id, member_role=body.role))


@operation(
    blueprint,
    "GET",
    "/team/members/<member_id>/credentials",
    summary="Credentials assigned to a member (managers, or the member themself).",
    responses={200: Assignments},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_MEMBER,
)
async def list_assignments(member_id: str, caller: Caller) -> Response:
    member_id = _member_id(member_id)
    if member_id != caller.user_id:
        caller.require("manage_members")
    async with db.transaction(runtime().pool) as conn:
        await _member(conn, caller, member_id)
        names = await members.assigned_credentials(conn, caller.team_id, member_id)
    return respond(Assignments(id=member_id, credentials=sorted(names)))


@operation(
    blueprint,
    "POST",
    "/team/members/<member_id>/credentials",
    summary="Assign a credential to a member (what an approver may see and approve).",
    body=AssignBody,
    responses={200: Assignments},
    errors=(400, 404, *SESSION_ERRORS),
    path_patterns=_MEMBER,
    permission="manage_members",
)
async def assign_credential(member_id: str, body: AssignBody, caller: Caller) -> Response:
    member_id = _member_id(member_id)
    async with db.transaction(runtime().pool) as conn:
        await _member(conn, caller, member_id)
        if await credentials_store.find(conn, caller.team_id, body.credential_name) is None:
            raise ResourceNotFound(f"credential {body.credential_name!r} does not exist")
        await members.assign(conn, caller.team_id, member_id, body.credential_name)
        names = await members.assigned_credentials(conn, caller.team_id, member_id)
    return respond(Assignments(id=member_id, credentials=sorted(names)))


@operation(
    blueprint,
    "DELETE",
    "/team/members/<member_id>/credentials/<credential>",
    summary="Unassign a credential from a member.",
    responses={200: Assignments},
    errors=(404, *SESSION_ERRORS),
    path_patterns={**_MEMBER, "credential": credentials_store.NAME_PATTERN.pattern},
    permission="manage_members",
)
async def unassign_credential(member_id: str, credential: str, caller: Caller) -> Response:
    member_id = _member_id(member_id)
    credential = credential_name(credential)
    async with db.transaction(runtime().pool) as conn:
        await _member(conn, caller, member_id)
        await members.unassign(conn, caller.team_id, member_id, credential)
        names = await members.assigned_credentials(conn, caller.team_id, member_id)
    return respond(Assignments(id=member_id, credentials=sorted(names)))
