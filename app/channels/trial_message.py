"""``POST /team/notification-channels/{name}/test``: send a test message through a team channel.

Sent at once, not through the outbox, so the owner sees the result: 200
``{name, sent: true}``, 404 for an unknown channel, ``channel_not_configured``
(404) when the deployment has not wired its kind, 503 ``channel_unavailable`` when
the service refused or did not answer.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel
from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.channels import NAME_PATTERN
from app.admin.contract import SESSION_ERRORS, operation, path_value, respond
from app.channels import registry
from app.channels.base import DeliveryFailed, Notice
from app.channels.current import hub
from app.channels.notices import approve_url
from app.errors import ChannelNotConfigured, ChannelUnavailable, ResourceNotFound
from app.store import channels as channels_store
from app.store import db
from app.webstate import runtime

blueprint = Blueprint("channel_test", __name__)


class TestSent(BaseModel):
    name: str
    sent: bool


@operation(
    blueprint,
    "POST",
    "/team/notification-channels/<name>/test",
    summary="Send a test message through the channel.",
    responses={200: TestSent},
    errors=(404, 503, *SESSION_ERRORS),
    path_patterns={"name": NAME_PATTERN.pattern},
    permission="manage_channels",
)
async def send_test(name: str, caller: Caller) -> Response:
    name = path_value(name, NAME_PATTERN, "channel")
    rt = runtime()
    async with db.connection(rt.pool) as conn:
        rows = await channels_store.list_team(conn, caller.team_id)
    row = next((r for r in rows if r.name == name), None)
    if row is None:
        raise ResourceNotFound(f"no channel named {name!r}")
    kind = "push" if row.channel_type == "dashboard" else row.channel_type
    channel = hub().get(kind)
    spec = registry.spec(kind)
    destination = spec.destination(rt.config, row.config) if spec is not None else None
    if channel is None or destination is None:
        raise ChannelNotConfigured(f"this TAP cannot send to a {row.channel_type} channel")
    txn_id = uuid.uuid4()
    notice = Notice(
        txn_id=txn_id,
        team_id=caller.team_id,
        agent_id="test",
        credential_name="test",
        method="GET",
        target_url="https://example.com/",
        body_preview=None,
        require_passkey=False,
        min_approvals=1,
        approve_url=approve_url(rt.config, txn_id),
        expires_at=dt.datetime.now(dt.UTC),
        channel_name=name,
        channel_config=destination,
        test=True,
    )
    try:
        await channel.deliver(notice)
    except DeliveryFailed as exc:
        raise ChannelUnavailable(
            f"the {row.channel_type} service refused the message: {exc}"
        ) from None
    return respond(TestSent(name=name, sent=True))
