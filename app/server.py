"""``tap-proxy``: start TAP under Hypercorn.

The parent process does everything that must happen once and fail early:
parse the configuration (exit 2 on a bad value), take the listening address
(exit 1 when another process holds it), start the embedded Postgres when no
database is configured, apply migrations and check key custody (exit 1 on
failure, never a fallback). Then Hypercorn serves ``app.asgi:app`` on that
socket with the uvloop worker, ``TAP_WORKERS`` processes, and shuts down
cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import sys
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

    NOTE: the socket is made here, without ``SO_REUSEPORT``, and handed to
    Hypercorn. Left to itself Hypercorn sets ``SO_REUSEPORT`` whenever it runs
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


def _serve(config: Config, listener: socket.socket) -> int:
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.run import run

    hypercorn = HypercornConfig()
    # Hypercorn takes the descriptor over; ours no longer owns it.
    hypercorn.bind = [f"fd://{listener.detach()}"]
    hypercorn.backlog = LISTEN_BACKLOG
    hypercorn.application_path = "app.asgi:app"
    hypercorn.worker_class = "uvloop"
    # One worker runs in this process; more are spawned processes.
    hypercorn.workers = 0 if config.workers == 1 else config.workers
    hypercorn.graceful_timeout = GRACEFUL_TIMEOUT_SECS
    hypercorn.accesslog = None
    # Hypercorn adds its own handler unless given a logger; ours propagates to the root handler.
    hypercorn.errorlog = logging.getLogger("hypercorn.error")
    hypercorn.keep_alive_timeout = 75
    # /forward passes the upstream's Date and Server on; Hypercorn must not add second ones.
    hypercorn.include_date_header = False
    hypercorn.include_server_header = False
    return run(hypercorn)


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
