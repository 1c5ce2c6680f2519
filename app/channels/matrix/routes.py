"""``GET /team/matrix/bot``: which account to invite to an approval room.

A team manager adding a Matrix room needs the bot's user id to invite it; the
homeserver says who the token belongs to (``whoami``).
"""

from __future__ import annotations

from pydantic import BaseModel
from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, respond
from app.channels.current import hub
from app.channels.matrix.channel import KIND, MatrixChannel
from app.channels.matrix.client import MatrixError
from app.errors import ChannelNotConfigured, ChannelUnavailable

blueprint = Blueprint("matrix", __name__)


class MatrixBotOut(BaseModel):
    user_id: str
    homeserver_url: str


@operation(
    blueprint,
    "GET",
    "/team/matrix/bot",
    summary="The Matrix bot to invite to approval rooms.",
    responses={200: MatrixBotOut},
    errors=(404, 503, *SESSION_ERRORS),
    permission="manage_channels",
)
async def matrix_bot(caller: Caller) -> Response:
    channel = hub().get(KIND)
    if not isinstance(channel, MatrixChannel):
        raise ChannelNotConfigured("this TAP has no Matrix bot")
    try:
        user_id = await channel.bot_id()
    except MatrixError:
        raise ChannelUnavailable("the homeserver did not say who the bot is") from None
    return respond(MatrixBotOut(user_id=user_id, homeserver_url=channel.homeserver_url))
