"""``tap key rotate`` in HSM custody (SoftHSM2): a new DEK is generated and wrapped inside the HSM.

The running proxy keeps serving and learns the new DEK from the database; the
stored wrapped DEK is replaced only when the old one is retired, so a restart
afterwards unwraps the new one.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed (pip install '.[hsm]')")

from app.store import db  # noqa: E402
from app.store.custody import PostgresWrappedKeyStore  # noqa: E402
from enclave.hsm import HsmWrappedDek  # noqa: E402
from tests.enclave.hsm._boot import start_hsm_proxy
from tests.enclave.hsm.conftest import SoftHsm
from tests.integration.rotation._harness import KEY_2, secret_of
from tests.support.upstream import Upstream

pytestmark = pytest.mark.slow

NAMES = ("alpha", "beta", "gamma")


def _stored_fingerprint(database_url: str) -> str:
    async def go() -> bytes | None:
        pool = await db.create_pool(database_url, max_size=1)
        try:
            return await PostgresWrappedKeyStore(pool).get_wrapped_key()
        finally:
            await pool.close()

    raw = asyncio.run(go())
    assert raw is not None
    return HsmWrappedDek.from_bytes(raw).fingerprint


def _seed(hsm: SoftHsm, database_url: str) -> str:
    for name in NAMES:
        added = hsm.cli(
            "add",
            "--name",
            name,
            "--value-file",
            "-",
            "--allowed-host",
            "127.0.0.1",
            database_url=database_url,
            input=secret_of(name),
        )
        assert added.exit_code == 0, added.output
    created = hsm.cli(
        "agent",
        "create",
        "--name",
        "bot",
        "--credentials",
        ",".join(NAMES),
        database_url=database_url,
    )
    assert created.exit_code == 0, created.output
    return next(
        line.split("=", 1)[1]
        for line in created.output.splitlines()
        if line.startswith("TAP_API_KEY=")
    )


def _check(url: str, agent_key: str, upstream: Upstream, tag: str) -> None:
    for name in NAMES:
        response = httpx.post(
            url + "/forward",
            headers={
                "X-TAP-Key": agent_key,
                "X-TAP-Credential": name,
                "X-TAP-Target": f"{upstream.url}/{name}/{tag}",
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text
        got = next(r for r in reversed(upstream.received) if r.path == f"/{name}/{tag}")
        assert secret_of(name) in json.dumps(got.headers)


def test_hsm_rotation_wraps_a_new_dek_and_installs_it_at_the_end(
    tmp_path: Path, database_url: str, softhsm: SoftHsm, upstream: Upstream
) -> None:
    softhsm.init_key(database_url)
    proxy = start_hsm_proxy(tmp_path, database_url, softhsm)
    try:
        agent_key = _seed(softhsm, database_url)
        old = _stored_fingerprint(database_url)
        _check(proxy.url, agent_key, upstream, "before")

        # Under HSM custody the new key never comes from outside.
        given = softhsm.cli(
            "key", "rotate", database_url=database_url, TAP_ENCRYPTION_KEY_NEW=KEY_2
        )
        assert given.exit_code == 1
        assert "the new key is generated and wrapped inside custody" in given.output

        rotated = softhsm.cli("key", "rotate", "--batch-size", "2", database_url=database_url)
        assert rotated.exit_code == 0, rotated.output
        new = _stored_fingerprint(database_url)
        assert new != old
        assert f"re-sealed {len(NAMES)} / {len(NAMES)}" in rotated.output
        assert f"key {old} is retired, key {new} (version 2) is current" in rotated.output
        assert f"the stored DEK is now {new}, wrapped under the same pkcs11 key" in rotated.output
        _check(proxy.url, agent_key, upstream, "rotated")

        again = softhsm.cli("key", "rotate", database_url=database_url)
        assert again.exit_code == 0, again.output
        assert "rotating from key version 2 to 3" in again.output
        _check(proxy.url, agent_key, upstream, "twice")
        newest = _stored_fingerprint(database_url)
    finally:
        assert proxy.stop() == 0, proxy.log()

    restarted = start_hsm_proxy(tmp_path, database_url, softhsm)
    try:
        assert f"DEK {newest} unwrapped by HSM key" in restarted.log(), restarted.log()
        _check(restarted.url, agent_key, upstream, "restarted")
    finally:
        assert restarted.stop() == 0, restarted.log()
