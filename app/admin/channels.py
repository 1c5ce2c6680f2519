"""``/team/notification-channels``: where the team hears about pending approvals (owners and admins).

Delivery itself comes with the channel issue; this module keeps the rows
valid: ``dashboard`` and ``agent_reflected`` take no config, ``telegram``
needs a ``chat_id``, ``matrix`` a ``room_id`` starting with ``!`` and
optionally an http(s) ``homeserver_url``. Access tokens never go in a row.
"""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import urlsplit

from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, path_value, respond
from app.admin.schemas import ChannelCreateBody, ChannelDefault, ChannelList, ChannelOut, Deleted
from app.errors import ValidationFailed
from app.store import channels as channels_store
from app.store import db
from app.webstate import runtime

blueprint = Blueprint("channels", __name__)

NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_NAME = {"name": NAME_PATTERN.pattern}
_ALLOWED_KEYS: Final[dict[str, frozenset[str]]] = {
    "dashboard": frozenset(),
    "agent_reflected": frozenset(),
    "telegram": frozenset({"chat_id"}),
    "matrix": frozenset({"room_id", "homeserver_url"}),
}


def check_config(channel_type: str, config: dict[str, str]) -> dict[str, Any]:
    """The config to store for ``channel_type``. Raises ValidationFailed."""
    if "access_token" in config:
        raise ValidationFailed(
            "config must not contain an access_token; the bot's token is server configuration"
        )
    unknown = sorted(set(config) - _ALLOWED_KEYS[channel_type])
    if unknown:
        raise ValidationFailed(
            f"config has keys a {channel_type} channel does not take: {', '.join(unknown)}"
        )
    clean = {key: value.strip() for key, value in config.items()}
    if channel_type == "telegram" and not clean.get("chat_id"):
        raise ValidationFailed("a telegram channel needs config.chat_id")
    if channel_type == "matrix":
        if not clean.get("room_id", "").startswith("!"):
            raise ValidationFailed("a matrix channel needs config.room_id starting with '!'")
        server = clean.get("homeserver_url")
        if server is not None:
            parts = urlsplit(server)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValidationFailed("config.homeserver_url must be an http(s) URL")
    return clean


def channel_out(channel: channels_store.Channel, default_id: str | None) -> ChannelOut:
    return ChannelOut(
        id=channel.id,
        channel_type=channel.channel_type,
        name=channel.name,
        config=channel.config,
        enabled=channel.enabled,
        is_default=channel.id == default_id,
        created_at=channel.created_at,
    )


def _default_id(rows: list[channels_store.Channel]) -> str | None:
    return next((c.id for c in rows if c.enabled), None)


@operation(
    blueprint,
    "GET",
    "/team/notification-channels",
    summary="The team's channels, default first.",
    responses={200: ChannelList},
    errors=SESSION_ERRORS,
    permission="manage_channels",
)
async def list_channels(caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        rows = await channels_store.list_team(conn, caller.team_id)
    default = _default_id(rows)
    return respond(ChannelList(channels=[channel_out(c, default) for c in rows]))


@operation(
    blueprint,
    "POST",
    "/team/notification-channels",
    summary="Add a channel.",
    body=ChannelCreateBody,
    responses={201: ChannelOut},
    errors=(400, 409, *SESSION_ERRORS),
    permission="manage_channels",
)
async def create_channel(body: ChannelCreateBody, caller: Caller) -> Response:
    if not NAME_PATTERN.match(body.name):
        raise ValidationFailed(
            "channel names are 1-64 characters of letters, digits, '_', '.', '-'"
        )
    config = check_config(body.channel_type, body.config)
    async with db.transaction(runtime().pool) as conn:
        channel = await channels_store.create(
            conn,
            team_id=caller.team_id,
            channel_type=body.channel_type,
            name=body.name,
            config=config,
            enabled=body.enabled,
        )
        default = _default_id(await channels_store.list_team(conn, caller.team_id))
    return respond(channel_out(channel, default), 201)


@operation(
    blueprint,
    "DELETE",
    "/team/notification-channels/<name>",
    summary="Remove a channel.",
    responses={200: Deleted},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_NAME,
    permission="manage_channels",
)
async def delete_channel(name: str, caller: Caller) -> Response:
    name = path_value(name, NAME_PATTERN, "channel")
    async with db.transaction(runtime().pool) as conn:
        await channels_store.delete(conn, caller.team_id, name)
    return respond(Deleted(name=name, deleted=True))


@operation(
    blueprint,
    "POST",
    "/team/notification-channels/<name>/default",
    summary="Make an enabled channel the team's default.",
    responses={200: ChannelDefault},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_NAME,
    permission="manage_channels",
)
async def make_default_channel(name: str, caller: Caller) -> Response:
    name = path_value(name, NAME_PATTERN, "channel")
    async with db.transaction(runtime().pool) as conn:
        await channels_store.make_default(conn, caller.team_id, name)
    return respond(ChannelDefault(name=name, is_default=True))
