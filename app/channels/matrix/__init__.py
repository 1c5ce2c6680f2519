"""The Matrix approval channel: a bot account on a homeserver, over the client-server API.

:mod:`.client` makes the HTTP calls, :mod:`.events` reads what a sync
brought, :mod:`.message` writes what the bot says, :mod:`.channel` ties them
into an :class:`~app.channels.base.ApprovalChannel` with its sync loop.
"""
