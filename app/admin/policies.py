"""``/team/policies/{credential}``: a credential's approval policy (owners and admins only).

``PUT`` replaces the whole policy: omitted lists become empty,
``require_passkey`` false and ``min_approvals`` 1, except
``require_approval_urls``, which keeps its stored value when omitted (send
``[]`` to clear it). Approver emails must belong to current team members.
"""

from __future__ import annotations

from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, respond
from app.admin.credentials import credential_name
from app.admin.schemas import PolicyBody, PolicyCleared, PolicyOut, PolicySet
from app.errors import ResourceNotFound, ValidationFailed
from app.store import credentials as credentials_store
from app.store import db, members
from app.store import policies as policies_store
from app.store.events import team_changed
from app.store.models import Policy
from app.webstate import runtime

blueprint = Blueprint("policies", __name__)

_CRED = {"credential": credentials_store.NAME_PATTERN.pattern}
CHANNEL_ALIASES = {"app": "agent_reflected"}


def policy_out(policy: Policy) -> PolicyOut:
    return PolicyOut(
        credential=policy.credential_name,
        auto_approve_methods=list(policy.auto_approve_methods),
        require_approval_methods=list(policy.require_approval_methods),
        auto_approve_urls=list(policy.auto_approve_urls),
        require_approval_urls=list(policy.require_approval_urls),
        allowed_approvers=list(policy.allowed_approvers),
        approval_channel=policy.approval_channel,
        telegram_chat_id=policy.telegram_chat_id,
        matrix_room_id=policy.matrix_room_id,
        matrix_allowed_approvers=list(policy.matrix_allowed_approvers),
        require_passkey=policy.require_passkey,
        min_approvals=policy.min_approvals,
    )


@operation(
    blueprint,
    "GET",
    "/team/policies/<credential>",
    summary="The credential's policy.",
    responses={200: PolicyOut},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_CRED,
    permission="manage_policies",
)
async def get_policy(credential: str, caller: Caller) -> Response:
    name = credential_name(credential)
    async with db.transaction(runtime().pool) as conn:
        policy = await policies_store.get(conn, caller.team_id, name)
    if policy is None:
        raise ResourceNotFound("No policy set for this credential")
    return respond(policy_out(policy))


@operation(
    blueprint,
    "PUT",
    "/team/policies/<credential>",
    summary="Replace the credential's policy (require_approval_urls is kept when omitted).",
    body=PolicyBody,
    responses={200: PolicySet},
    errors=(400, 404, *SESSION_ERRORS),
    path_patterns=_CRED,
    permission="manage_policies",
)
async def put_policy(credential: str, body: PolicyBody, caller: Caller) -> Response:
    name = credential_name(credential)
    channel = body.approval_channel.strip().lower() if body.approval_channel else None
    channel = CHANNEL_ALIASES.get(channel, channel) if channel else None
    if channel is not None and channel not in policies_store.APPROVAL_CHANNELS:
        raise ValidationFailed(
            "approval_channel must be one of telegram, matrix, dashboard, agent_reflected, app"
        )
    async with db.transaction(runtime().pool) as conn:
        if await credentials_store.find(conn, caller.team_id, name) is None:
            raise ResourceNotFound(f"credential {name!r} does not exist")
        team_emails = await members.emails(conn, caller.team_id)
        for field, emails in (
            ("allowed_approvers", body.allowed_approvers),
            ("matrix_allowed_approvers", body.matrix_allowed_approvers),
        ):
            strangers = sorted(set(emails) - team_emails)
            if strangers:
                raise ValidationFailed(f"{field} must list emails of team members", field=field)
        policy = await policies_store.put(
            conn,
            Policy(
                team_id=caller.team_id,
                credential_name=name,
                auto_approve_methods=policies_store.normalize_methods(
                    "auto_approve_methods", body.auto_approve_methods
                ),
                require_approval_methods=policies_store.normalize_methods(
                    "require_approval_methods", body.require_approval_methods
                ),
                auto_approve_urls=policies_store.normalize_urls(
                    "auto_approve_urls", body.auto_approve_urls
                ),
                require_approval_urls=policies_store.normalize_urls(
                    "require_approval_urls", body.require_approval_urls or []
                ),
                allowed_approvers=tuple(dict.fromkeys(body.allowed_approvers)),
                approval_channel=channel,
                telegram_chat_id=body.telegram_chat_id or None,
                matrix_room_id=body.matrix_room_id or None,
                matrix_allowed_approvers=tuple(dict.fromkeys(body.matrix_allowed_approvers)),
                require_passkey=body.require_passkey,
                min_approvals=max(1, body.min_approvals),
            ),
            keep_require_approval_urls=body.require_approval_urls is None,
        )
        await team_changed(conn, caller.team_id)
    return respond(PolicySet(credential=name, policy_set=True, policy=policy_out(policy)))


@operation(
    blueprint,
    "DELETE",
    "/team/policies/<credential>",
    summary="Remove the policy; the team's default approval mode applies again.",
    responses={200: PolicyCleared},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_CRED,
    permission="manage_policies",
)
async def delete_policy(credential: str, caller: Caller) -> Response:
    name = credential_name(credential)
    async with db.transaction(runtime().pool) as conn:
        await policies_store.clear(conn, caller.team_id, name)
        await team_changed(conn, caller.team_id)
    return respond(PolicyCleared(credential=name, policy_cleared=True))
