"""Every approval channel TAP knows, one line each.

Adding a channel is one module implementing
:class:`~app.channels.base.ApprovalChannel` plus one :class:`ChannelSpec`
line here. ``dashboard`` and ``agent_reflected`` need no entry for delivery:
the dashboard's web push is the ``push`` spec, and an agent-reflected
request is shown to the agent in the 202 itself.
"""

from __future__ import annotations

from app.channels.base import ChannelSpec


def specs() -> tuple[ChannelSpec, ...]:
    """The registered channels. Imported lazily so a channel's module loads only when listed."""
    return ()
