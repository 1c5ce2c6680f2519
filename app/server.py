"""``tap-proxy``: start TAP under Uvicorn, or Hypercorn with ``TAP_SERVER=hypercorn``.

The parent process does everything that must happen once and fail early:
parse the configuration (exit 2 on a bad value), take the listening address
(exit 1 when another process holds it), start the embedded Postgres when no
database is configured, apply migrations and check key custody (exit 1 on
failure, never a fallback). Then the server serves ``app.framing:app`` on that
socket with uvloop, ``TAP_WORKERS`` processes, and shuts down cleanly on
SIGTERM. Both servers get the same limits: a request head must be complete
within the keep-alive timeout and fit in ``MAX_REQUEST_HEAD_BYTES``, no read
waits longer than :func:`read_timeout_secs`, and neither adds a ``Date`` or
``Server`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Final

import click

import enclave
from app.config import Config
from app.errors import ConfigError, TapError
from app.logs import configure_logging
from app.store import db

logger = logging.getLogger(__name__)

GRACEFUL_TIMEOUT_SECS: Final = 10
EXIT_CONFIG: Final = 2
EXIT_STARTUP: Final = 1
LISTEN_BACKLOG: Final = 100


def _listen(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` for every worker. Raises OSError.

    NOTE: the socket is made here, without ``SO_REUSEPORT``, and handed to the
    server. Left to itself Hypercorn sets ``SO_REUSEPORT`` whenever it runs
    more than one worker, so a second TAP on the same address would start too
    and the kernel would split requests between two databases.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR only lets a restart bind past connections in TIME_WAIT;
        # a live listener on the address still makes bind fail.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


async def _prepare(config: Config, database_url: str) -> None:
    # Migrate and prove custody once, before any worker starts.
    from app.runtime import open_runtime

    runtime = await open_runtime(config, database_url)
    await runtime.close()


def read_timeout_secs(config: Config) -> int:
    """The per-read limit: the client's allowance plus the longest TAP takes to answer.

    NOTE: both servers keep reading while a request is handled, and a client is
    rightly silent while TAP waits for the upstream; a read timing out then
    closes the connection under the response. So the limit leaves room for the
    longest forward.
    """
    return config.request_read_timeout_secs + math.ceil(config.forward_timeout_secs)


APP_PATH: Final = "app.framing:app"
"""What both servers serve: TAP behind the check on ambiguous requests."""
MAX_REQUEST_HEAD_BYTES: Final = 16 * 1024
"""Longest request head (target and headers) either server reads; past it 431 or a close."""


def _serve(config: Config, listener: socket.socket) -> int:
    serve = _serve_uvicorn if config.server == "uvicorn" else _serve_hypercorn
    return serve(config, listener)


def _serve_hypercorn(config: Config, listener: socket.socket) -> int:
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.run import run

    hypercorn = HypercornConfig()
    # Hypercorn takes the descriptor over; ours no longer owns it.
    hypercorn.bind = [f"fd://{listener.detach()}"]
    hypercorn.backlog = LISTEN_BACKLOG
    hypercorn.application_path = APP_PATH
    hypercorn.worker_class = "uvloop"
    # One worker runs in this process; more are spawned processes.
    hypercorn.workers = 0 if config.workers == 1 else config.workers
    hypercorn.graceful_timeout = GRACEFUL_TIMEOUT_SECS
    hypercorn.accesslog = None
    # Hypercorn adds its own handler unless given a logger; ours propagates to the root handler.
    hypercorn.errorlog = logging.getLogger("hypercorn.error")
    # NOTE: partial requests are never left open. Hypercorn's keep-alive timer runs
    # from accept until a complete request head arrives (and again between
    # requests), so a client dribbling a request head is cut off after
    # keep_alive_timeout_secs; the body as a whole is bounded by Quart's
    # BODY_TIMEOUT (set by the app factory); and no read waits forever.
    hypercorn.keep_alive_timeout = config.keep_alive_timeout_secs
    hypercorn.read_timeout = read_timeout_secs(config)
    hypercorn.h11_max_incomplete_size = MAX_REQUEST_HEAD_BYTES
    # /forward passes the upstream's Date and Server on; Hypercorn must not add second ones.
    hypercorn.include_date_header = False
    hypercorn.include_server_header = False
    return run(hypercorn)


def _serve_uvicorn(config: Config, listener: socket.socket) -> int:
    """Serve under Uvicorn with the protocol that keeps Hypercorn's limits (app/uvicorn_protocol.py)."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.server import Server
    from uvicorn.supervisors.multiprocess import Multiprocess

    from app.uvicorn_protocol import GuardedConfig, GuardedProtocol

    uvicorn = GuardedConfig(
        APP_PATH,
        read_timeout_secs=read_timeout_secs(config),
        max_head_bytes=MAX_REQUEST_HEAD_BYTES,
        loop="uvloop",
        http=GuardedProtocol,
        ws="none",  # TAP serves no WebSocket
        lifespan="on",
        workers=config.workers,
        backlog=LISTEN_BACKLOG,
        timeout_keep_alive=config.keep_alive_timeout_secs,
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT_SECS,
        # Logs go through TAP's handlers; TAP writes its own access line (paths only).
        log_config=None,
        access_log=False,
        # NOTE: X-Forwarded-* is believed only from TAP_TRUSTED_PROXIES, by TAP.
        proxy_headers=False,
        # /forward passes the upstream's Date and Server on; Uvicorn must not add second ones.
        server_header=False,
        date_header=False,
    )
    if config.workers == 1:
        server = Server(uvicorn)
        with _signals_absorbed():
            try:
                server.run(sockets=[listener])
            except SystemExit:  # Uvicorn's answer to an application that failed to start
                return EXIT_STARTUP
        return 0 if server.started else EXIT_STARTUP
    supervisor = Multiprocess(uvicorn, sockets=[listener])
    supervisor.run()
    failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    return EXIT_STARTUP if failed else 0


@contextlib.contextmanager
def _signals_absorbed() -> Iterator[None]:
    """Keep SIGINT and SIGTERM from ending the process after Uvicorn's own shutdown.

    Uvicorn stops on these signals and then raises the one it caught again, to
    the handler installed before it; that must not end the process before
    ``main`` stops the embedded Postgres and exits 0.
    """
    ignored = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in ignored.items():
            signal.signal(sig, handler)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run the TAP proxy. All settings come from the environment (see README)."""
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        click.echo(f"tap-proxy: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    configure_logging(config.log_level)
    config.log_warnings()
    address = f"{config.listen_host}:{config.listen_port}"
    try:
        listener = _listen(config.listen_host, config.listen_port)
    except OSError as exc:
        reason = (
            "the address is already in use by another process (is another TAP running?)"
            if exc.errno == errno.EADDRINUSE
            else exc.strerror or "cannot bind"
        )
        click.echo(f"tap-proxy: cannot listen on {address}: {reason}", err=True)
        sys.exit(EXIT_STARTUP)
    embedded = None
    try:
        if config.database_url is None:
            embedded = db.start_embedded(config.data_dir)
            database_url = embedded.url
            logger.info("using the embedded Postgres in %s", config.data_dir / "postgres")
        else:
            database_url = config.database_url.reveal()
        asyncio.run(_prepare(config, database_url))
        os.environ["TAP_RESOLVED_DATABASE_URL"] = database_url
        logger.info(
            "listening on %s:%d with %d worker(s)",
            config.listen_host,
            config.listen_port,
            config.workers,
        )
        code = _serve(config, listener)
    except ConfigError as exc:
        click.echo(f"tap-proxy: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except (TapError, enclave.CustodyError) as exc:
        click.echo(f"tap-proxy: start-up failed: {exc}", err=True)
        sys.exit(EXIT_STARTUP)
    finally:
        listener.close()
        if embedded is not None:
            embedded.stop()
    sys.exit(code)
