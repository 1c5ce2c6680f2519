"""A member's passkeys: enrolment, listing, removal, and the passkey step of signing in.

Where WebAuthn is configured, passkeys are mandatory: ``/login`` with the right
password never yields a session by itself (see :func:`login_step`); the
session comes from ``/login/passkey``. An account without a passkey gets a
10-minute ``setup`` session that reaches only ``/setup-passkey/*``.

Every challenge is single-use and expiring (:mod:`app.store.challenges`),
and every assertion must come from one of the caller's own passkeys, with a
sign count that grew.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any, Final

from quart import Blueprint, Response

from app.admin import signin
from app.admin.auth import Caller, start_session
from app.admin.contract import SESSION_ERRORS, operation, path_value, respond
from app.admin.passkey_schemas import (
    AssertionBody,
    CeremonyOptions,
    Deleted,
    LoginPasskeyBody,
    MemberReset,
    PasskeyList,
    PasskeyOut,
    PasskeySetupRequired,
    PasskeyStepRequired,
    Registered,
    RegisterFinishBody,
    SetupBeginBody,
    SetupFinishBody,
    WellKnownWebauthn,
)
from app.admin.schemas import LoginResult
from app.crypto import new_token
from app.errors import (
    LastPasskey,
    NoPasskeys,
    PasskeysDisabled,
    PasskeyVerificationFailed,
    ResourceNotFound,
    StaleChallenge,
    Unauthenticated,
)
from app.passkeys.relying_party import RelyingParty, credential_id_of
from app.store import challenges, db, members, passkeys, sessions, users
from app.store.db import Conn
from app.store.passkeys import Passkey
from app.webstate import runtime

logger = logging.getLogger(__name__)

blueprint = Blueprint("passkeys", __name__)

CHALLENGE_TTL: Final = dt.timedelta(minutes=10)
_PASSKEY_ID: Final = {"passkey_id": "^[A-Za-z0-9_-]{16,1400}$"}
_USER_ID: Final = {"user_id": "^[A-Za-z0-9_-]{1,64}$"}
_ID: Final = re.compile(_USER_ID["user_id"])


def relying_party() -> RelyingParty:
    """The deployment's relying party. Raises PasskeysDisabled when WebAuthn is not configured."""
    rp = RelyingParty.from_config(runtime().config)
    if rp is None:
        raise PasskeysDisabled(
            "passkeys are not set up on this TAP (WEBAUTHN_RP_ID, WEBAUTHN_RP_ORIGIN, TAP_APP_URL)"
        )
    return rp


def passkeys_enabled() -> bool:
    return RelyingParty.from_config(runtime().config) is not None


def passkey_out(passkey: Passkey) -> PasskeyOut:
    return PasskeyOut(
        id=passkey.id,
        display_name=passkey.display_name,
        transports=list(passkey.transports),
        created_at=passkey.created_at,
        last_used_at=passkey.last_used_at,
    )


def _expiry() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + CHALLENGE_TTL


async def check_assertion(
    conn: Conn,
    rp: RelyingParty,
    *,
    user_id: str,
    credential: dict[str, Any],
    challenge: bytes,
) -> tuple[Passkey, Any]:
    """Verify an assertion made with one of ``user_id``'s passkeys, and advance its counter.

    Raises PasskeyVerificationFailed (another person's passkey, a bad
    signature, a counter that did not grow, or a concurrent use of the same
    assertion).
    """
    wanted = credential_id_of(credential)
    mine = {p.id: p for p in await passkeys.of_user(conn, user_id)}
    passkey = mine.get(wanted)
    if passkey is None:
        raise PasskeyVerificationFailed("that passkey is not one of yours")
    assertion = rp.verify_assertion(credential, challenge=challenge, passkey=passkey)
    if not await passkeys.use(
        conn, passkey.id, seen=passkey.sign_count, new_count=assertion.new_sign_count
    ):
        raise PasskeyVerificationFailed("that passkey was used concurrently; try again")
    return passkey, assertion


async def _register_begin(conn: Conn, rp: RelyingParty, user: users.User) -> CeremonyOptions:
    existing = await passkeys.of_user(conn, user.id)
    options, challenge = rp.registration_options(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name or user.email,
        existing=existing,
    )
    await challenges.put(
        conn,
        purpose="register",
        subject=user.id,
        user_id=user.id,
        challenge=challenge,
        payload=None,
        expires_at=_expiry(),
    )
    return CeremonyOptions(challenge=options, user_id=user.id)


async def _register_finish(
    conn: Conn,
    rp: RelyingParty,
    user: users.User,
    credential: dict[str, Any],
    display_name: str | None,
) -> Passkey:
    # NOTE: taken on its own connection, so a refused answer spends it too.
    slot = await challenges.take(
        runtime().pool, purpose="register", subject=user.id, user_id=user.id
    )
    if slot is None:
        raise StaleChallenge("no registration in progress; begin again")
    new = rp.verify_registration(credential, slot.challenge)
    passkey = await passkeys.add(
        conn,
        credential_id=new.credential_id,
        user_id=user.id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        display_name=display_name or user.email,
        transports=new.transports,
    )
    logger.info("passkey %s registered for user %s", passkey.id, user.id)
    return passkey


# Signed in -------------------------------------------------------------------------


@operation(
    blueprint,
    "POST",
    "/user/passkey/register/begin",
    summary="Creation options for a new passkey (user verification required; existing passkeys excluded).",
    responses={200: CeremonyOptions},
    errors=(404, *SESSION_ERRORS),
)
async def register_begin(caller: Caller) -> Response:
    rp = relying_party()
    async with db.transaction(runtime().pool) as conn:
        user = await users.get(conn, caller.user_id)
        return respond(await _register_begin(conn, rp, user))


@operation(
    blueprint,
    "POST",
    "/user/passkey/register/finish",
    summary="Verify the new passkey and keep it.",
    body=RegisterFinishBody,
    responses={201: Registered},
    errors=(403, 404, 409, *SESSION_ERRORS),
)
async def register_finish(body: RegisterFinishBody, caller: Caller) -> Response:
    rp = relying_party()
    async with db.transaction(runtime().pool) as conn:
        user = await users.get(conn, caller.user_id)
        passkey = await _register_finish(conn, rp, user, body.credential, body.display_name)
    return respond(Registered(status="registered", passkey=passkey_out(passkey)), 201)


@operation(
    blueprint,
    "GET",
    "/user/passkeys",
    summary="The signed-in account's passkeys.",
    responses={200: PasskeyList},
    errors=SESSION_ERRORS,
)
async def list_passkeys(caller: Caller) -> Response:
    mine = await passkeys.of_user(runtime().pool, caller.user_id)
    return respond(PasskeyList(passkeys=[passkey_out(p) for p in mine]))


@operation(
    blueprint,
    "DELETE",
    "/user/passkeys/<passkey_id>",
    summary="Remove one of your passkeys (never the last one: sign-in needs it).",
    responses={200: Deleted},
    errors=(404, 409, *SESSION_ERRORS),
    path_patterns=_PASSKEY_ID,
)
async def delete_passkey(passkey_id: str, caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        mine = [p.id for p in await passkeys.of_user(conn, caller.user_id)]
        if mine == [passkey_id]:
            raise LastPasskey("this is your last passkey; register another one first")
        if not await passkeys.delete(conn, caller.user_id, passkey_id):
            raise ResourceNotFound("no such passkey")
    return respond(Deleted(deleted=True))


# Right after signup: the setup session ----------------------------------------------


async def _setup_user(conn: Conn, token: str) -> users.User:
    view = await sessions.resolve(conn, runtime().keys.hash_token(token))
    if view is None or view.scope != "setup":
        raise Unauthenticated("the passkey setup token is invalid or has expired")
    return await users.get(conn, view.user_id)


@operation(
    blueprint,
    "POST",
    "/setup-passkey/begin",
    summary="Creation options for the first passkey, with the setup token from /verify-email or /login.",
    body=SetupBeginBody,
    responses={200: CeremonyOptions},
    authenticated=False,
    errors=(400, 401, 404),
)
async def setup_begin(body: SetupBeginBody) -> Response:
    rp = relying_party()
    async with db.transaction(runtime().pool) as conn:
        user = await _setup_user(conn, body.passkey_setup_token)
        return respond(await _register_begin(conn, rp, user))


@operation(
    blueprint,
    "POST",
    "/setup-passkey/finish",
    summary="Keep the first passkey; the setup token ends.",
    body=SetupFinishBody,
    responses={201: Registered},
    authenticated=False,
    errors=(400, 401, 403, 404, 409),
)
async def setup_finish(body: SetupFinishBody) -> Response:
    rp = relying_party()
    state = runtime()
    async with db.transaction(state.pool) as conn:
        user = await _setup_user(conn, body.passkey_setup_token)
        passkey = await _register_finish(conn, rp, user, body.credential, body.display_name)
        await sessions.delete(conn, state.keys.hash_token(body.passkey_setup_token))
    return respond(Registered(status="registered", passkey=passkey_out(passkey)), 201)


# Signing in --------------------------------------------------------------------------


async def login_step(
    conn: Conn, user: users.User, active: members.TeamMembership
) -> PasskeySetupRequired | PasskeyStepRequired:
    """What ``/login`` answers after the password, where passkeys are on: never a session.

    An account without a passkey gets a setup token; one with passkeys gets an
    assertion challenge over them and a ``passkey_token`` naming it.
    """
    rp = relying_party()
    mine = await passkeys.of_user(conn, user.id)
    if not mine:
        token, expires_at = await start_session(
            conn, user_id=user.id, team_id=active.team_id, scope="setup"
        )
        return PasskeySetupRequired(
            needs_passkey_setup=True,
            passkey_setup_token=token,
            passkey_setup_expires_at=expires_at,
            user_id=user.id,
        )
    options, challenge = rp.assertion_options(mine)
    passkey_token = new_token()
    await challenges.put(
        conn,
        purpose="login",
        subject=runtime().keys.hash_token(passkey_token),
        user_id=user.id,
        challenge=challenge,
        payload=active.team_id,
        expires_at=_expiry(),
    )
    return PasskeyStepRequired(
        requires_passkey=True, passkey_token=passkey_token, challenge=options, user_id=user.id
    )


@operation(
    blueprint,
    "POST",
    "/login/passkey",
    summary="Finish signing in: the assertion for the challenge /login returned; answers a 24 h session.",
    body=LoginPasskeyBody,
    responses={200: LoginResult},
    authenticated=False,
    errors=(400, 403, 404, 409),
)
async def login_passkey(body: LoginPasskeyBody) -> Response:
    rp = relying_party()
    state = runtime()
    slot = await challenges.take(
        state.pool, purpose="login", subject=state.keys.hash_token(body.passkey_token)
    )
    if slot is None:
        raise StaleChallenge("this sign-in expired or was already used; sign in again")
    async with db.transaction(state.pool) as conn:
        await check_assertion(
            conn, rp, user_id=slot.user_id, credential=body.credential, challenge=slot.challenge
        )
        user = await users.get(conn, slot.user_id)
        memberships = await members.teams_of(conn, user.id)
        active = next((m for m in memberships if m.team_id == slot.payload), None)
        if active is None:
            raise Unauthenticated("you no longer belong to that team; sign in again")
        result = await signin.sign_in(conn, user, active=active, teams=memberships, joined=[])
    logger.info("login with passkey: user %s into team %s", user.id, active.team_id)
    return respond(result)


# An owner resets a member's passkeys, after their own passkey step --------------------


@operation(
    blueprint,
    "POST",
    "/team/members/<user_id>/passkeys/reset/begin",
    summary="Owner only: a passkey challenge for your own step-up before resetting a member's passkeys.",
    responses={200: CeremonyOptions},
    errors=(404, 412, *SESSION_ERRORS),
    path_patterns=_USER_ID,
    permission="change_member_roles",  # owners only
)
async def reset_begin(user_id: str, caller: Caller) -> Response:
    rp = relying_party()
    async with db.transaction(runtime().pool) as conn:
        await members.get(conn, caller.team_id, path_value(user_id, _ID, "member"))
        mine = await passkeys.of_user(conn, caller.user_id)
        if not mine:
            raise NoPasskeys("register a passkey of your own first")
        options, challenge = rp.assertion_options(mine)
        await challenges.put(
            conn,
            purpose="step_up",
            subject=f"reset:{caller.team_id}:{user_id}",
            user_id=caller.user_id,
            challenge=challenge,
            payload=None,
            expires_at=_expiry(),
        )
    return respond(CeremonyOptions(challenge=options, user_id=caller.user_id))


@operation(
    blueprint,
    "POST",
    "/team/members/<user_id>/passkeys/reset",
    summary="Owner only: remove every passkey of a member (and end their sessions), with your passkey assertion.",
    body=AssertionBody,
    responses={200: MemberReset},
    errors=(404, 409, *SESSION_ERRORS),
    path_patterns=_USER_ID,
    permission="change_member_roles",  # owners only
)
async def reset(user_id: str, body: AssertionBody, caller: Caller) -> Response:
    rp = relying_party()
    path_value(user_id, _ID, "member")
    slot = await challenges.take(
        runtime().pool,
        purpose="step_up",
        subject=f"reset:{caller.team_id}:{user_id}",
        user_id=caller.user_id,
    )
    if slot is None:
        raise StaleChallenge("no reset in progress; begin again")
    async with db.transaction(runtime().pool) as conn:
        member = await members.get(conn, caller.team_id, user_id)
        await check_assertion(
            conn, rp, user_id=caller.user_id, credential=body.credential, challenge=slot.challenge
        )
        removed = await passkeys.delete_all(conn, member.user_id)
        await sessions.delete_for_user(conn, member.user_id)
    logger.info("owner %s reset %d passkeys of user %s", caller.user_id, removed, member.user_id)
    return respond(MemberReset(reset=removed))


@operation(
    blueprint,
    "GET",
    "/.well-known/webauthn",
    summary="Related origins: every origin allowed to use this deployment's passkeys.",
    responses={200: WellKnownWebauthn},
    authenticated=False,
    errors=(404,),
)
async def well_known() -> Response:
    """Related origins: every origin allowed to use this RP ID (public)."""
    rp = relying_party()
    return respond(WellKnownWebauthn(origins=list(rp.origins)))
