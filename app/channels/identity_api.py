"""``/user/identities``: a person links their chat accounts, lists and removes the links.

``POST /user/identities/{kind}`` answers a single-use code and how to send it
to the bot; the link exists only once the chat account has sent it (see
:mod:`app.channels.identities`). Links belong to the person, not a team: in
each team the linked account acts as that person's membership there.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from pydantic import BaseModel
from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, path_value, respond
from app.admin.schemas import Deleted
from app.channels import identities
from app.channels.base import DeliveryFailed, LinksIdentities
from app.channels.current import hub
from app.errors import ChannelNotConfigured, ChannelUnavailable
from app.store import db
from app.store import identities as identities_store
from app.webstate import runtime

blueprint = Blueprint("identities", __name__)

KIND_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
ID_PATTERN: Final = re.compile(r"^id_[0-9a-f]{32}$")


class IdentityCodeOut(BaseModel):
    kind: str
    code: str
    expires_at: dt.datetime
    instructions: str
    deep_link: str | None = None
    bot: str | None = None


class IdentityOut(BaseModel):
    id: str
    kind: str
    external_id: str
    display: str | None
    created_at: dt.datetime


class IdentityList(BaseModel):
    identities: list[IdentityOut]
    linkable: list[str]
    """The chat kinds this TAP can link (its wired chat channels), so a UI offers only those."""


@operation(
    blueprint,
    "POST",
    "/user/identities/<kind>",
    summary="A single-use code to link a chat account (send it to the bot; Telegram: open deep_link).",
    responses={200: IdentityCodeOut},
    errors=(404, 503, *SESSION_ERRORS),
    path_patterns={"kind": KIND_PATTERN.pattern},
)
async def new_link_code(kind: str, caller: Caller) -> Response:
    kind = path_value(kind, KIND_PATTERN, "chat channel")
    channel = hub().get(kind)
    if not isinstance(channel, LinksIdentities):
        raise ChannelNotConfigured(f"this TAP has no {kind} channel to link accounts with")
    async with db.transaction(runtime().pool) as conn:
        code, expires = await identities.issue_code(conn, user_id=caller.user_id, kind=kind)
    try:
        how = await channel.link_instructions(code)
    except DeliveryFailed:
        raise ChannelUnavailable(f"the {kind} service did not answer; try again") from None
    return respond(
        IdentityCodeOut(
            kind=kind,
            code=code,
            expires_at=expires,
            instructions=how.instructions,
            deep_link=how.deep_link,
            bot=how.bot,
        )
    )


@operation(
    blueprint,
    "GET",
    "/user/identities",
    summary="The caller's linked chat accounts, and the chat kinds this TAP can link.",
    responses={200: IdentityList},
    errors=SESSION_ERRORS,
)
async def list_identities(caller: Caller) -> Response:
    async with db.connection(runtime().pool) as conn:
        found = await identities_store.list_for_user(conn, caller.user_id)
    return respond(
        IdentityList(
            identities=[
                IdentityOut(
                    id=i.id,
                    kind=i.kind,
                    external_id=i.external_id,
                    display=i.display,
                    created_at=i.created_at,
                )
                for i in found
            ],
            linkable=sorted(
                kind
                for kind, channel in hub().channels.items()
                if isinstance(channel, LinksIdentities)
            ),
        )
    )


@operation(
    blueprint,
    "DELETE",
    "/user/identities/<identity_id>",
    summary="Unlink a chat account; it can no longer act for the caller.",
    responses={200: Deleted},
    errors=(404, *SESSION_ERRORS),
    path_patterns={"identity_id": ID_PATTERN.pattern},
)
async def delete_identity(identity_id: str, caller: Caller) -> Response:
    identity_id = path_value(identity_id, ID_PATTERN, "linked identity")
    async with db.transaction(runtime().pool) as conn:
        await identities_store.delete(conn, caller.user_id, identity_id)
    return respond(Deleted(name=identity_id, deleted=True))
