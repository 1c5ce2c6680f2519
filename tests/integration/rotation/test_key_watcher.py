"""A running process learns of a rotation from the notification alone, before any request needs it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app import key_watcher
from app.config import Config
from app.crypto import KeyRing
from app.rotation import begin, reseal, retire, verify
from app.runtime import Runtime, open_runtime
from app.store import db
from tests.integration.rotation._harness import KEY_1, KEY_2, seed
from tests.support.proxy import base_env

DEADLINE_SECS = 30.0


async def _until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_SECS
    while not done():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_the_key_ring_follows_the_rotation_by_notification(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(key_watcher, "RETIRED_KEY_GRACE_SECS", 0.0)
    seed(tmp_path, database_url, 3)
    config = Config.from_env(base_env(tmp_path, database_url, TAP_ENCRYPTION_KEY=KEY_1))

    async def scenario() -> None:
        rt: Runtime = await open_runtime(config, database_url)
        pool = await db.create_pool(database_url, max_size=2)
        try:
            await rt.start_serving()
            first = rt.keys
            assert set(first.versions) == {1}
            operator = KeyRing.from_master_key(bytes.fromhex(KEY_1))
            rotation = await begin(pool, operator, bytes.fromhex(KEY_2), wrapped_dek=None)
            await _until(lambda: set(rt.keys.versions) == {1, 2})
            assert rt.keys.write_version == 2
            # The purpose keys do not change: agent keys hash as before.
            assert rt.keys.hash_api_key("tap_x") == first.hash_api_key("tap_x")

            await reseal(pool, rotation, lambda _done, _total: None)
            await verify(pool, rotation)
            await retire(pool, rotation)
            await _until(lambda: set(rt.keys.versions) == {2})
            assert rt.keys.hash_api_key("tap_x") == first.hash_api_key("tap_x")
        finally:
            await pool.close()
            await rt.close()

    asyncio.run(scenario())
