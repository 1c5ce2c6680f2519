"""``tap status``: ask a running proxy for its health, at the address it listens on.

Without ``--proxy-url`` the address comes from ``TAP_LISTEN_ADDR``, exactly as
the server reads it (a wildcard bind is reached on loopback). Failures name
the URL and the cause in words, never an exception class.
"""

from __future__ import annotations

import sys
from typing import Final

import click
import httpx

from app.config import Config
from tools.cli.errors import EXIT_FAILURE, cause_in_words, exit_on_error
from tools.cli.run import settings

TIMEOUT_SECS: Final = 5.0
_WILDCARDS: Final = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def default_url(config: Config) -> str:
    """The URL that reaches the server configured by ``config`` from this machine."""
    host = _WILDCARDS.get(config.listen_host, config.listen_host)
    return f"http://{f'[{host}]' if ':' in host else host}:{config.listen_port}"


@click.command("status")
@click.option("--proxy-url", help="The proxy's URL (default: from TAP_LISTEN_ADDR).")
def status(proxy_url: str | None) -> None:
    """Check a running proxy's health."""
    with exit_on_error():
        url = (proxy_url or default_url(settings().config)).rstrip("/")
    try:
        response = httpx.get(url + "/health", timeout=TIMEOUT_SECS)
    except httpx.TimeoutException:
        click.echo(f"error: cannot reach {url}: no answer within {TIMEOUT_SECS:g} s", err=True)
        sys.exit(EXIT_FAILURE)
    except httpx.HTTPError as exc:
        click.echo(f"error: cannot reach {url}: {cause_in_words(exc)}", err=True)
        sys.exit(EXIT_FAILURE)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        click.echo(
            f"error: {url} answered HTTP {response.status_code}, but not as a TAP server", err=True
        )
        sys.exit(EXIT_FAILURE)
    build = body.get("build")
    build = build if isinstance(build, dict) else {}
    click.echo(
        f"{url}: {body.get('status', 'unknown')} (version {build.get('version')}, sha {build.get('sha')})"
    )
    if response.status_code != 200:
        sys.exit(EXIT_FAILURE)
