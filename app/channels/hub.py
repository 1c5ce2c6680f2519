"""The channels one worker runs: built at start-up, started and stopped with the app.

:meth:`ChannelHub.start` builds every channel of the registry that this
deployment wired (an unwired one is simply absent), starts each one, and
starts the outbox dispatcher that delivers and updates their messages. The hub lives in
``app.extensions[HUB_EXTENSION]``; request code reaches it with :func:`app.channels.current.hub`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Final

import aiohttp

from app.channels import registry
from app.channels.base import ApprovalChannel, ChannelDeps

if TYPE_CHECKING:
    from app.channels.dispatcher import Dispatcher
    from app.runtime import Runtime

logger = logging.getLogger(__name__)

CHANNEL_TIMEOUT_SECS: Final = 15.0
"""No single call to a chat or push service may take longer than this."""


class ChannelHub:
    """The wired channels by kind, their shared HTTP session and the dispatcher."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.channels: dict[str, ApprovalChannel] = {}
        self._http: aiohttp.ClientSession | None = None
        self.dispatcher: Dispatcher | None = None

    def get(self, kind: str) -> ApprovalChannel | None:
        return self.channels.get(kind)

    async def start(self) -> None:
        """Build and start every wired channel, then the dispatcher. Raises ConfigError."""
        from app.channels.dispatcher import Dispatcher

        assert self.rt.http is not None, "start the runtime's serving parts first"
        self._http = aiohttp.ClientSession(
            trust_env=False, timeout=aiohttp.ClientTimeout(total=CHANNEL_TIMEOUT_SECS)
        )
        deps = ChannelDeps(
            config=self.rt.config, pool=self.rt.pool, http=self._http, guarded_http=self.rt.http
        )
        for spec in registry.specs():
            if not spec.wired(self.rt.config):
                continue
            channel = spec.build(deps)
            await channel.start()
            self.channels[spec.kind] = channel
            logger.info("approval channel %s started", spec.kind)
        self.dispatcher = Dispatcher(self.rt, self.channels)
        await self.dispatcher.start()

    async def stop(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        for kind, channel in self.channels.items():
            try:
                await channel.stop()
            except Exception:
                logger.exception("approval channel %s failed to stop", kind)
        self.channels.clear()
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.close()
