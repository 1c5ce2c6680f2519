"""A recording upstream on loopback, driven by a handler function.

It runs its own event loop in a thread so tests can use it from sync code and
from a tap-proxy subprocess alike. Every request it received is kept in
``received`` (method, path with query, headers, body).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.proxy import free_port


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    raw_path: str = ""
    """The path and query exactly as sent (percent-escapes kept), for signature checks."""


Handler = Callable[[Received], Awaitable[web.StreamResponse] | web.StreamResponse]


def echo_json(received: Received) -> web.Response:
    return web.json_response({"ok": True, "method": received.method, "path": received.path})


@dataclass
class Upstream:
    handler: Handler = echo_json
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(
            request.method,
            request.path_qs,
            dict(request.headers),
            await request.read(),
            raw_path=request.raw_path,
        )
        self.received.append(received)
        result: Any = self.handler(received)
        if asyncio.iscoroutine(result):
            result = await result
        return result  # type: ignore[no-any-return]

    def start(self) -> Upstream:
        self.port = free_port()
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
