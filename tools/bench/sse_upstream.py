"""A server-sent-events upstream for the streaming benchmark.

``GET /sse?events=N&gap_ms=M`` answers ``text/event-stream``: the first
event at once, then one every ``M`` ms, like an LLM streaming tokens.
``GET /health`` answers 200 when the server is up; ``GET /json`` a small
JSON body (a stand-in upstream when nginx is not there).

Usage::

    python -m tools.bench.sse_upstream --port 8111
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Final

from aiohttp import web

_MAX_EVENTS: Final = 10_000


async def _sse(request: web.Request) -> web.StreamResponse:
    events = min(int(request.query.get("events", "5")), _MAX_EVENTS)
    gap = float(request.query.get("gap_ms", "5")) / 1000
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    for index in range(events):
        if index:
            await asyncio.sleep(gap)
        event = {"index": index, "delta": {"content": f" token{index}"}}
        await response.write(f"data: {json.dumps(event)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _json(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/sse", _sse)
    app.router.add_get("/health", _health)
    app.router.add_get("/json", _json)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
