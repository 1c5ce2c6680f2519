"""Accounts: sign up, verify the email, log in and out, switch team, reset a password.

Brute force is bounded in Postgres, so every replica sees the same counts
(the bounds are in :mod:`app.admin.throttling`):

- login: failures per (account, client address), per client address, and a
  much higher per-account ceiling, so one address cannot lock out an owner;
- emailed codes: bound to one account, five wrong guesses kill a code, and
  wrong guesses are bounded per client address and per account per day;
- sign-up: attempts per client address, refused before any password hashing.

Login answers one generic ``invalid_credentials`` for an unknown email and a
wrong password, and spends the same argon2 effort on both.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Final

from quart import Blueprint, Response

from app.admin import passwords, signin
from app.admin.auth import Caller, bearer_token, client_address, start_session
from app.admin.contract import SESSION_ERRORS, operation, respond
from app.admin.email import Mailer, verification_message
from app.admin.passkey_schemas import LoginOutcome
from app.admin.passkeys import login_step, passkeys_enabled
from app.admin.schemas import (
    EmailBody,
    LoginBody,
    LogoutResult,
    MeResult,
    MessageResult,
    ResetPasswordBody,
    SignupBody,
    SignupResult,
    SwitchTeamBody,
    TeamsResult,
    VerifyEmailBody,
    VerifyEmailResult,
)
from app.admin.throttling import (
    SIGNUPS_PER_ADDRESS,
    Check,
    code_checks,
    count_attempt,
    login_checks,
    refuse_if_blocked,
)
from app.errors import (
    Conflict,
    EmailNotVerified,
    InvalidCredentials,
    NotATeamMember,
    PermissionDenied,
    TooManyAttempts,
    Unauthenticated,
)
from app.store import db, email_codes, members, sessions, teams, throttle, users
from app.webstate import runtime

logger = logging.getLogger(__name__)

blueprint = Blueprint("accounts", __name__)

NEW_TEAM_MODE: Final = "gated"


async def _refuse_taken(conn: db.Conn, body: SignupBody) -> None:
    """Raises Conflict when the email has an account or the team name is in use."""
    existing = await users.by_email(conn, body.email)
    if existing is not None:
        raise Conflict(
            "an account with this email already exists", unverified=not existing.email_verified
        )
    if await teams.name_taken(conn, body.team_name):
        raise Conflict(f"the team name {body.team_name!r} is taken")


@operation(
    blueprint,
    "POST",
    "/signup",
    summary="Create a team, its owner and an unverified account; a 6-digit code is emailed.",
    body=SignupBody,
    responses={201: SignupResult},
    authenticated=False,
    errors=(400, 409, 429),
)
async def signup(body: SignupBody) -> Response:
    state = runtime()
    # NOTE: every cheap refusal comes before the deliberately slow password hash,
    # so sign-up loops cannot spend the CPU that /forward needs.
    signup_key: Check = (f"signup-address:{client_address()}", SIGNUPS_PER_ADDRESS)
    await refuse_if_blocked(signup_key)
    await count_attempt(signup_key)
    async with db.connection(state.pool) as conn:
        await _refuse_taken(conn, body)
    password_hash = await passwords.hash_password(body.password)
    async with db.transaction(state.pool) as conn:
        # Again under the transaction: a parallel sign-up may have won meanwhile.
        await _refuse_taken(conn, body)
        team = await teams.ensure_team(
            conn, f"team_{uuid.uuid4().hex}", body.team_name, NEW_TEAM_MODE
        )
        user = await users.create(conn, email=body.email, password_hash=password_hash)
        await members.add(conn, user_id=user.id, team_id=team.id, role="owner")
        code = await email_codes.issue(
            conn, state.keys, user_id=user.id, purpose="verify_email", enforce_cooldown=False
        )
    subject, text = verification_message(code, team.name)
    delivery = await Mailer(state.config).send(to=user.email, subject=subject, text=text)
    logger.info("signup: user %s created team %s", user.id, team.id)
    return respond(
        SignupResult(
            user_id=user.id,
            team_id=team.id,
            team_name=team.name,
            email=user.email,
            email_verified=False,
            message="Check your email for a 6-digit verification code.",
            email_error=delivery.error,
        ),
        201,
    )


@operation(
    blueprint,
    "POST",
    "/verify-email",
    summary="Verify an account with the emailed code (bound to the email; 5 wrong guesses kill the code).",
    body=VerifyEmailBody,
    responses={200: VerifyEmailResult},
    authenticated=False,
    errors=(400, 429),
)
async def verify_email(body: VerifyEmailBody) -> Response:
    state = runtime()
    checks = code_checks("verify_email", body.email, client_address())
    await refuse_if_blocked(*checks)
    outcome: email_codes.CodeOutcome = "missing"
    setup_token: str | None = None
    setup_expires: dt.datetime | None = None
    user_id = ""
    async with db.transaction(state.pool) as conn:
        user = await users.by_email(conn, body.email)
        if user is not None:
            user_id = user.id
            outcome = await email_codes.consume(
                conn, state.keys, user_id=user.id, purpose="verify_email", code=body.code
            )
            if outcome == "accepted":
                await users.mark_verified(conn, user.id)
                home = await members.teams_of(conn, user.id)
                if passkeys_enabled() and home:
                    # NOTE: a setup-scope session reaches passkey enrolment only, never /team/*.
                    setup_token, setup_expires = await start_session(
                        conn, user_id=user.id, team_id=home[0].team_id, scope="setup"
                    )
    if outcome != "accepted":
        await count_attempt(*checks)
        email_codes.raise_unless_accepted(outcome)
    return respond(
        VerifyEmailResult(
            verified=True,
            user_id=user_id,
            passkey_setup_token=setup_token,
            passkey_setup_expires_at=setup_expires,
        )
    )


@operation(
    blueprint,
    "POST",
    "/resend-verification",
    summary="Email a fresh verification code. Always answers the same, whether or not the account exists.",
    body=EmailBody,
    responses={200: MessageResult},
    authenticated=False,
    errors=(400,),
)
async def resend_verification(body: EmailBody) -> Response:
    state = runtime()
    code: str | None = None
    team_name = "TAP"
    async with db.transaction(state.pool) as conn:
        user = await users.by_email(conn, body.email)
        if user is not None and not user.email_verified:
            try:
                code = await email_codes.issue(
                    conn, state.keys, user_id=user.id, purpose="verify_email"
                )
            except TooManyAttempts:
                code = None  # NOTE: silent, so the answer does not reveal the account.
            home = await members.teams_of(conn, user.id)
            team_name = home[0].team_name if home else team_name
    if code is not None:
        subject, text = verification_message(code, team_name)
        await Mailer(state.config).send(to=body.email, subject=subject, text=text)
    return respond(
        MessageResult(
            message="If this account exists and is not verified yet, a new code was sent."
        )
    )


@operation(
    blueprint,
    "POST",
    "/login",
    summary="Exchange email and password for a 24 h session token (throttled per account and per address).",
    body=LoginBody,
    responses={200: LoginOutcome},
    authenticated=False,
    errors=(400, 401, 403, 429),
)
async def login(body: LoginBody) -> Response:
    state = runtime()
    checks = login_checks(body.email, client_address())
    await refuse_if_blocked(*checks)
    async with db.connection(state.pool) as conn:
        user = await users.by_email(conn, body.email)
    if (
        not await passwords.verify(user.password_hash if user else None, body.password)
        or user is None
    ):
        await count_attempt(*checks)
        raise InvalidCredentials("invalid email or password")
    if not user.email_verified:
        raise EmailNotVerified("verify your email address before logging in", unverified=True)
    async with db.transaction(state.pool) as conn:
        memberships = await members.teams_of(conn, user.id)
        if not memberships:
            raise PermissionDenied("this account does not belong to any team")
        # NOTE: pending invites are not joined here: joining is an explicit
        # POST /user/invites/<id>/accept, so no stranger's team becomes active.
        active = memberships[0]
        await throttle.clear(conn, checks[0][0])
        if passkeys_enabled():
            # NOTE: with passkeys on, a password alone never yields a session.
            step = await login_step(conn, user, active)
            logger.info("login: password accepted for user %s; passkey step next", user.id)
            return respond(step)
        result = await signin.sign_in(conn, user, active=active, teams=memberships, joined=[])
    logger.info("login: user %s into team %s", user.id, active.team_id)
    return respond(result)


@operation(
    blueprint,
    "POST",
    "/logout",
    summary="End this session.",
    responses={200: LogoutResult},
    errors=(401,),
)
async def logout() -> Response:
    token = bearer_token()
    if token is None:
        raise Unauthenticated("no session to end")
    state = runtime()
    deleted = await sessions.delete(state.pool, state.keys.hash_token(token))
    if not deleted:
        raise Unauthenticated("the session is invalid or has expired")
    return respond(LogoutResult(logged_out=True))


@operation(
    blueprint,
    "GET",
    "/user/me",
    summary="The signed-in account, its active team and its capabilities.",
    responses={200: MeResult},
    errors=SESSION_ERRORS,
)
async def me(caller: Caller) -> Response:
    view = caller.session
    return respond(
        MeResult(
            id=view.user_id,
            email=view.email,
            display_name=view.display_name,
            team_id=view.team_id,
            team_name=view.team_name,
            member_role=caller.role,  # type: ignore[arg-type]
            capabilities=sorted(caller.capabilities),
            session_expires_at=view.expires_at,
        )
    )


@operation(
    blueprint,
    "GET",
    "/user/teams",
    summary="Every team the account belongs to.",
    responses={200: TeamsResult},
    errors=SESSION_ERRORS,
)
async def user_teams(caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        memberships = await members.teams_of(conn, caller.user_id)
    return respond(
        TeamsResult(active_team_id=caller.team_id, teams=[signin.team_ref(m) for m in memberships])
    )


@operation(
    blueprint,
    "POST",
    "/session/team",
    summary="Switch this session's active team (membership required).",
    body=SwitchTeamBody,
    responses={200: TeamsResult},
    errors=(400, *SESSION_ERRORS),
)
async def switch_team(body: SwitchTeamBody, caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        memberships = await members.teams_of(conn, caller.user_id)
        if body.team_id not in {m.team_id for m in memberships}:
            raise NotATeamMember("you are not a member of that team")
        await sessions.switch_team(conn, caller.session.token_hash, body.team_id)
    return respond(
        TeamsResult(active_team_id=body.team_id, teams=[signin.team_ref(m) for m in memberships])
    )


@operation(
    blueprint,
    "POST",
    "/forgot-password",
    summary="Email a password-reset code. Always answers the same, whether or not the account exists.",
    body=EmailBody,
    responses={200: MessageResult},
    authenticated=False,
    errors=(400,),
)
async def forgot_password(body: EmailBody) -> Response:
    state = runtime()
    code: str | None = None
    async with db.transaction(state.pool) as conn:
        user = await users.by_email(conn, body.email)
        if user is not None:
            try:
                code = await email_codes.issue(
                    conn, state.keys, user_id=user.id, purpose="reset_password"
                )
            except TooManyAttempts:
                code = None  # NOTE: silent; the answer must not reveal the account.
    if code is not None:
        text = (
            f"Your TAP password reset code is {code}.\n\nIt expires in "
            f"{int(email_codes.CODE_TTL.total_seconds() // 60)} minutes. If you did not ask for it, ignore this email.\n"
        )
        await Mailer(state.config).send(
            to=body.email, subject="Your TAP password reset code", text=text
        )
    return respond(MessageResult(message="If this account exists, a reset code was sent."))


@operation(
    blueprint,
    "POST",
    "/reset-password",
    summary="Set a new password with the emailed code; every session of the account ends.",
    body=ResetPasswordBody,
    responses={200: MessageResult},
    authenticated=False,
    errors=(400, 429),
)
async def reset_password(body: ResetPasswordBody) -> Response:
    state = runtime()
    checks = code_checks("reset_password", body.email, client_address())
    await refuse_if_blocked(*checks)
    outcome: email_codes.CodeOutcome = "missing"
    async with db.transaction(state.pool) as conn:
        user = await users.by_email(conn, body.email)
        if user is not None:
            outcome = await email_codes.consume(
                conn, state.keys, user_id=user.id, purpose="reset_password", code=body.code
            )
            if outcome == "accepted":
                # Hashed only once the code is right: a wrong guess costs no argon2 work.
                new_hash = await passwords.hash_password(body.password)
                await users.set_password_hash(conn, user.id, new_hash)
                # Receiving the code proves the address, so the account counts as verified.
                await users.mark_verified(conn, user.id)
                await sessions.delete_for_user(conn, user.id)
    if outcome != "accepted":
        await count_attempt(*checks)
        email_codes.raise_unless_accepted(outcome)
    return respond(MessageResult(message="Your password was changed; log in again."))
