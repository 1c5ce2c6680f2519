"""``tap key rotate`` in env custody against a real tap-proxy that keeps serving (issue 18, item 1).

The proxy is started with the first key only and never restarted while the
keys change: it learns each new key from the database when notified. Agents'
requests keep succeeding throughout, a killed or interrupted rotation is
resumed by running it again, and the retired key is refused afterwards.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from app.crypto import key_fingerprint
from tests.integration.rotation._harness import (
    KEY_1,
    KEY_2,
    KEY_3,
    Load,
    RowLock,
    check_all,
    key_version_rows,
    names,
    rotate,
    sealed_versions,
    seed,
    start_rotation,
)
from tests.support.proxy import base_env, start_proxy
from tests.support.tap import run_cli
from tests.support.upstream import Upstream
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

COUNT = 24
HALF = 12
FP_1 = key_fingerprint(bytes.fromhex(KEY_1))
FP_2 = key_fingerprint(bytes.fromhex(KEY_2))
FP_3 = key_fingerprint(bytes.fromhex(KEY_3))


def test_rotation_under_load_keeps_every_request_working(
    tmp_path: Path, database_url: str, upstream: Upstream
) -> None:
    agent_key = seed(tmp_path, database_url, COUNT)
    proxy = start_proxy(tmp_path, base_env(tmp_path, database_url, TAP_ENCRYPTION_KEY=KEY_1))
    try:
        with Load(proxy.url, agent_key, COUNT, upstream) as load:
            with RowLock(database_url, names(COUNT)[HALF]):
                rotation = start_rotation(tmp_path, database_url, key=KEY_1, new=KEY_2)
                # Halfway: the first half is under the new key, the rest under the old one.
                wait_for(lambda: sealed_versions(database_url), lambda v: v.get(2) == HALF, 60)
                check_all(proxy.url, agent_key, COUNT, upstream, "halfway")
                # A value written now is sealed under the new key at once.
                changed = run_cli(
                    tmp_path,
                    database_url,
                    "credential",
                    "set-value",
                    names(COUNT)[-1],
                    "--value-file",
                    "-",
                    input=f"sk-rotation-{names(COUNT)[-1]}-0123456789abcdef",
                )
                assert changed.exit_code == 0, changed.output
                assert sealed_versions(database_url) == {1: COUNT - HALF - 1, 2: HALF + 1}
            code, output = rotation.finish()
            assert code == 0, output
            wait_for(lambda: len(load.answers), lambda n: n > 0, 30)
        assert load.failures() == []
        check_all(proxy.url, agent_key, COUNT, upstream, "after")
    finally:
        assert proxy.stop() == 0, proxy.log()

    assert f"re-sealed {HALF} / {COUNT}" in output
    assert f"re-sealed {COUNT} / {COUNT}" in output
    assert f"verified: all {COUNT} sealed values open under the new key alone" in output
    assert f"key {FP_1} is retired, key {FP_2} (version 2) is current" in output
    assert sealed_versions(database_url) == {2: COUNT}
    assert "decrypt" not in proxy.log().lower()
    assert [
        (r["version"], r["retired"], r["has_transfer"]) for r in key_version_rows(database_url)
    ] == [
        (1, True, False),
        (2, False, False),
    ]


def test_a_killed_rotation_resumes_and_the_old_key_is_refused_after(
    tmp_path: Path, database_url: str, upstream: Upstream
) -> None:
    agent_key = seed(tmp_path, database_url, COUNT)
    proxy = start_proxy(tmp_path, base_env(tmp_path, database_url, TAP_ENCRYPTION_KEY=KEY_1))
    try:
        with RowLock(database_url, names(COUNT)[HALF]):
            rotation = start_rotation(tmp_path, database_url, key=KEY_1, new=KEY_2)
            wait_for(lambda: sealed_versions(database_url), lambda v: v.get(2) == HALF, 60)
            rotation.process.kill()
            rotation.process.wait(30)
        assert sealed_versions(database_url) == {1: COUNT - HALF, 2: HALF}
        check_all(proxy.url, agent_key, COUNT, upstream, "killed")

        # Resumed by a process that holds only the new key: it learns the old one too.
        output = rotate(tmp_path, database_url, key=KEY_2, new=None)
        assert "resuming the rotation from key version 1 to 2" in output
        assert f"re-sealed {HALF} / {COUNT}" in output
        assert f"key {FP_1} is retired" in output
        assert "VACUUM" not in output  # the dropped transfers were compacted away
        check_all(proxy.url, agent_key, COUNT, upstream, "resumed")

        # Running it again changes nothing.
        again = rotate(tmp_path, database_url, key=KEY_1, new=KEY_2)
        assert f"the key {FP_2} is already current; nothing to do" in again
    finally:
        assert proxy.stop() == 0, proxy.log()

    refused = start_proxy(
        tmp_path, base_env(tmp_path, database_url, TAP_ENCRYPTION_KEY=KEY_1), wait=False
    )
    assert refused.process.wait(60) != 0
    assert f"was retired by a key rotation; configure the current key (fingerprint {FP_2})" in (
        refused.log()
    )
    restarted = start_proxy(
        tmp_path, base_env(tmp_path, database_url, TAP_ENCRYPTION_KEY=KEY_2), name="restarted"
    )
    try:
        check_all(restarted.url, agent_key, COUNT, upstream, "restarted")
    finally:
        assert restarted.stop() == 0, restarted.log()


def test_ctrl_c_leaves_a_resumable_rotation(
    tmp_path: Path, database_url: str, upstream: Upstream
) -> None:
    seed(tmp_path, database_url, COUNT)
    with RowLock(database_url, names(COUNT)[HALF]):
        rotation = start_rotation(tmp_path, database_url, key=KEY_1, new=KEY_2)
        wait_for(lambda: sealed_versions(database_url), lambda v: v.get(2) == HALF, 60)
        rotation.process.send_signal(signal.SIGINT)
        code, output = rotation.finish()
    assert code == 130, output
    assert "interrupted" in output and "run `tap key rotate` again to resume" in output
    assert "Traceback" not in output
    assert sealed_versions(database_url) == {1: COUNT - HALF, 2: HALF}

    # Resuming with another new key than the one under way is refused.
    other = start_rotation(tmp_path, database_url, key=KEY_1, new=KEY_3).finish()
    assert other[0] == 1
    assert f"a rotation to the key {FP_2} is under way" in other[1]

    output = rotate(tmp_path, database_url, key=KEY_1, new=KEY_2)
    assert "resuming the rotation from key version 1 to 2" in output
    assert sealed_versions(database_url) == {2: COUNT}


def test_rotating_twice_while_the_proxy_keeps_its_first_key(
    tmp_path: Path, database_url: str, upstream: Upstream
) -> None:
    agent_key = seed(tmp_path, database_url, COUNT)
    proxy = start_proxy(tmp_path, base_env(tmp_path, database_url, TAP_ENCRYPTION_KEY=KEY_1))
    try:
        rotate(tmp_path, database_url, key=KEY_1, new=KEY_2)
        check_all(proxy.url, agent_key, COUNT, upstream, "first")
        second = rotate(tmp_path, database_url, key=KEY_2, new=KEY_3)
        assert f"rotating from key version 2 to 3 (new key {FP_3})" in second
        assert f"key {FP_2} is retired, key {FP_3} (version 3) is current" in second
        check_all(proxy.url, agent_key, COUNT, upstream, "second")
        # A key used before is never taken as a new one.
        reused = start_rotation(tmp_path, database_url, key=KEY_3, new=KEY_1).finish()
        assert reused[0] == 1 and "is not new" in reused[1], reused[1]
    finally:
        assert proxy.stop() == 0, proxy.log()
    assert sealed_versions(database_url) == {3: COUNT}

    # The agent key, hashed under the first key's purpose key, still works after a restart.
    restarted = start_proxy(
        tmp_path, base_env(tmp_path, database_url, TAP_ENCRYPTION_KEY=KEY_3), name="restarted"
    )
    try:
        check_all(restarted.url, agent_key, COUNT, upstream, "restarted")
    finally:
        assert restarted.stop() == 0, restarted.log()


def test_rotation_needs_a_new_key(tmp_path: Path, database_url: str) -> None:
    seed(tmp_path, database_url, 1)
    code, output = start_rotation(tmp_path, database_url, key=KEY_1, new=None).finish()
    assert code == 1
    assert "no new key: set TAP_ENCRYPTION_KEY_NEW" in output
    code, output = start_rotation(tmp_path, database_url, key=KEY_1, new="00ff").finish()
    assert code == 2
    assert "TAP_ENCRYPTION_KEY_NEW must be 64 hex characters (32 bytes), got 4" in output
    code, output = start_rotation(tmp_path, database_url, key=KEY_3, new=KEY_2).finish()
    assert code == 1
    assert "the encryption key does not match this database" in output
    assert KEY_2 not in output and KEY_3 not in output
    assert key_version_rows(database_url) == []
