"""``tap-proxy``: start TAP under Hypercorn.

The parent process does everything that must happen once and fail early:
parse the configuration (exit 2 on a bad value), start the embedded Postgres
when no database is configured, apply migrations and check key custody (exit 1
on failure, never a fallback). Then Hypercorn serves ``app.asgi:app`` with the
uvloop worker, ``TAP_WORKERS`` processes, and shuts down cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
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


async def _prepare(config: Config, database_url: str) -> None:
    # Migrate and prove custody once, before any worker starts.
    from app.runtime import open_runtime

    runtime = await open_runtime(config, database_url)
    await runtime.close()


def read_timeout_secs(config: Config) -> int:
    """Hypercorn's per-read limit: the client's allowance plus the longest TAP takes to answer.

    NOTE: Hypercorn keeps reading while a request is handled, and a client is
    rightly silent while TAP waits for the upstream; a read timing out then
    closes the connection under the response. So the limit leaves room for the
    longest forward.
    """
    return config.request_read_timeout_secs + math.ceil(config.forward_timeout_secs)


def _serve(config: Config) -> int:
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.run import run

    hypercorn = HypercornConfig()
    host = f"[{config.listen_host}]" if ":" in config.listen_host else config.listen_host
    hypercorn.bind = [f"{host}:{config.listen_port}"]
    hypercorn.application_path = "app.asgi:app"
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
        code = _serve(config)
    except (TapError, enclave.CustodyError) as exc:
        click.echo(f"tap-proxy: start-up failed: {exc}", err=True)
        sys.exit(EXIT_STARTUP)
    except OSError as exc:
        # Typically the port is taken or the address is not local.
        click.echo(
            f"tap-proxy: cannot listen on {config.listen_host}:{config.listen_port}: {exc.strerror}",
            err=True,
        )
        sys.exit(EXIT_STARTUP)
    finally:
        if embedded is not None:
            embedded.stop()
    sys.exit(code)
