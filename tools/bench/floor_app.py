"""The framework floor: a Quart app answering a constant JSON, served exactly as TAP is served.

``python -m tools.bench.floor_app --port P --workers N`` builds the same
Hypercorn configuration as ``app.server._serve`` (uvloop worker, ``N`` worker
processes, the same keep-alive and graceful timeouts, no access log), so the
difference between this and TAP is TAP's own work. ``--server uvicorn`` runs
the same app under Uvicorn (uvloop + httptools) for comparison.
"""

from __future__ import annotations

import argparse
import sys

from quart import Quart, Response

from app import server as tap_server

app = Quart("bench-floor")

_BODY = b'{"id":"chatcmpl-bench","object":"bench.result","ok":true,"items":[1,2,3]}'


@app.post("/forward")
@app.get("/json")
async def constant() -> Response:
    return Response(_BODY, status=200, content_type="application/json")


def _hypercorn(port: int, workers: int) -> int:
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.run import run

    # NOTE: keep in step with app.server._serve; the floor is only a floor if it matches.
    config = HypercornConfig()
    config.bind = [f"127.0.0.1:{port}"]
    config.application_path = "tools.bench.floor_app:app"
    config.worker_class = "uvloop"
    config.workers = 0 if workers == 1 else workers
    config.graceful_timeout = tap_server.GRACEFUL_TIMEOUT_SECS
    config.accesslog = None
    config.keep_alive_timeout = 75
    return run(config)


def _uvicorn(port: int, workers: int) -> int:
    import uvicorn

    uvicorn.run(
        "tools.bench.floor_app:app",
        host="127.0.0.1",
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=75,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server", choices=("hypercorn", "uvicorn"), default="hypercorn")
    args = parser.parse_args(argv)
    if args.server == "uvicorn":
        return _uvicorn(args.port, args.workers)
    return _hypercorn(args.port, args.workers)


if __name__ == "__main__":
    sys.exit(main())
