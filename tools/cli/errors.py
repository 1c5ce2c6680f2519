"""How every ``tap`` command fails: one line on stderr and an exit code.

The tree::

    CliError               a problem the CLI itself finds (exit 1, or 2 for usage)
    └── NotInitialised     no TAP data where the CLI looked; nothing was created

:func:`exit_on_error` is the one place exceptions become output. Domain errors
(:class:`~app.errors.TapError`, :class:`~enclave.CustodyError`) print their
message, which never holds a secret; pydantic validation errors print the
field and the problem (never the input, which may be a secret); anything else
prints one generic line. ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Final

import click
from pydantic import ValidationError

import enclave
from app.errors import AdminError, ConfigError, TapError

EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


class CliError(Exception):
    """A problem found by the CLI itself, with the exit code it ends in."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NotInitialised(CliError):
    """There is no TAP database or key where the CLI looked. Nothing was created."""


def describe_validation(error: ValidationError) -> str:
    """``field: problem`` for each problem, joined; NOTE: never the input value."""
    # One problem per field, the first: a union type reports one per member, and the
    # first member (the plain form) is the one a person meant.
    first: dict[str, str] = {}
    for problem in error.errors():
        where = str(problem["loc"][0]) if problem["loc"] else ""
        first.setdefault(where, problem["msg"].removeprefix("Value error, "))
    return "; ".join(f"{where}: {msg}" if where else msg for where, msg in first.items())


def cause_in_words(exc: BaseException) -> str:
    """What went wrong, in words: the operating system's reason if the chain holds one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and (seen.errno or seen.strerror):
            # The errno's own words: asyncio's strerror names the call, not the reason.
            return (os.strerror(seen.errno) if seen.errno else str(seen.strerror)).lower()
        seen = seen.__cause__ or seen.__context__
    return "the connection failed"


def _message(exc: BaseException) -> tuple[str, int]:
    if isinstance(exc, CliError):
        return str(exc), exc.exit_code
    if isinstance(exc, ConfigError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, ValidationError):
        return describe_validation(exc), EXIT_FAILURE
    if isinstance(exc, AdminError):
        return exc.message, EXIT_FAILURE
    if isinstance(exc, TapError | enclave.CustodyError):
        return str(exc), EXIT_FAILURE
    return f"unexpected {type(exc).__name__} (run with --verbose for details)", EXIT_FAILURE


def fail(exc: BaseException) -> None:
    """Print ``exc`` as one line (plus the traceback with ``--verbose``) and exit."""
    message, code = _message(exc)
    context = click.get_current_context(silent=True)
    verbose = bool(context is not None and context.find_root().params.get("verbose"))
    if verbose:
        traceback.print_exception(exc)
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn any exception raised inside into one line and an exit code (see :func:`fail`)."""
    try:
        yield
    except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
        raise
    except Exception as exc:  # the last resort: one line, never a traceback unless asked
        fail(exc)
