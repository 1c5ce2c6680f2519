"""Every approval channel TAP knows, one line each.

Adding a channel is one module implementing
:class:`~app.channels.base.ApprovalChannel` plus one :class:`ChannelSpec`
line in :func:`specs`. The dashboard's web push is the ``push`` spec; an
agent-reflected request needs none (the 202 itself tells the agent).
"""

from __future__ import annotations

import functools

from app.channels.base import ChannelSpec


@functools.cache
def specs() -> tuple[ChannelSpec, ...]:
    """The registered channels. Imported here, lazily, so the registry loads no channel early."""
    from app.channels.matrix import channel as matrix
    from app.channels.matrix import routes as matrix_routes
    from app.channels.push import api as push_api
    from app.channels.push import channel as push
    from app.channels.telegram import channel as telegram
    from app.channels.telegram import webhook as telegram_webhook

    return (
        ChannelSpec(
            kind=push.KIND, wired=push.wired, build=push.PushChannel, blueprint=push_api.blueprint
        ),
        ChannelSpec(
            kind=telegram.KIND,
            wired=telegram.wired,
            build=telegram.TelegramChannel,
            destination=telegram.destination,
            blueprint=telegram_webhook.blueprint,
        ),
        ChannelSpec(
            kind=matrix.KIND,
            wired=matrix.wired,
            build=matrix.MatrixChannel,
            destination=matrix.destination,
            blueprint=matrix_routes.blueprint,
        ),
    )


def spec(kind: str) -> ChannelSpec | None:
    return next((s for s in specs() if s.kind == kind), None)
