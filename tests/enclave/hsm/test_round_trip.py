"""HSM custody end to end with a real tap-proxy and SoftHSM2 (issue 18, item 2).

Key generation (``tap enclave hsm-init``) -> first boot wraps a new DEK inside
the token -> a sealed credential is forwarded, and still after a restart ->
the database holds only the wrapped DEK. And an env-key deployment moves into
HSM custody with ``tap enclave hsm-migrate-from-env``, keeping its credentials.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass

from app.crypto import key_fingerprint
from app.store import db
from app.store.custody import PostgresWrappedKeyStore
from enclave.hsm import HsmWrappedDek
from tests.enclave.hsm._boot import hsm_env, start_hsm_proxy, startup_failure
from tests.enclave.hsm.conftest import KEY_LABEL, USER_PIN, SoftHsm
from tests.support.proxy import TEST_KEY
from tests.support.tap import start_tap
from tests.support.upstream import Upstream

SECRET = "sk-live-hsm-RoundTrip-0123456789"
ENV_FINGERPRINT = key_fingerprint(bytes.fromhex(TEST_KEY))


def _forward(url: str, agent_key: str, upstream: Upstream) -> None:
    response = httpx.post(
        url + "/forward",
        headers={
            "X-TAP-Key": agent_key,
            "X-TAP-Credential": "demo",
            "X-TAP-Target": upstream.url + "/v1",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert SECRET in json.dumps(upstream.received[-1].headers)


def _stored_record(database_url: str) -> bytes | None:
    async def go() -> bytes | None:
        pool = await db.create_pool(database_url, max_size=1)
        try:
            return await PostgresWrappedKeyStore(pool).get_wrapped_key()
        finally:
            await pool.close()

    return asyncio.run(go())


def _agent(hsm: SoftHsm, database_url: str) -> str:
    added = hsm.cli(
        "add",
        "--name",
        "demo",
        "--description",
        "demo api",
        "--value-file",
        "-",
        "--allowed-host",
        "127.0.0.1",
        database_url=database_url,
        input=SECRET,
    )
    assert added.exit_code == 0, added.output
    created = hsm.cli(
        "agent", "create", "--name", "bot", "--credentials", "demo", database_url=database_url
    )
    assert created.exit_code == 0, created.output
    return next(
        line.split("=", 1)[1]
        for line in created.output.splitlines()
        if line.startswith("TAP_API_KEY=")
    )


def test_hsm_init_creates_a_key_that_cannot_leave_the_token(
    softhsm: SoftHsm, database_url: str
) -> None:
    created = softhsm.cli("enclave", "hsm-init", database_url=database_url)
    assert created.exit_code == 0, created.output
    assert f"created wrapping key '{KEY_LABEL}' on token 'tap-test'" in created.output
    again = softhsm.cli("enclave", "hsm-init", database_url=database_url)
    assert again.exit_code == 1
    assert "key custody failed at hsm.keygen: " in again.output
    assert "already holds a key labelled 'tap-kek'; nothing was created" in again.output

    lib = pkcs11.lib(str(softhsm.module))
    try:
        token = lib.get_token(token_label=softhsm.token_label)
        with token.open(user_pin=USER_PIN) as session:
            (key,) = session.get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: KEY_LABEL}
            )
            assert key[Attribute.VALUE_LEN] == 32
            assert key[Attribute.SENSITIVE] and key[Attribute.NEVER_EXTRACTABLE]
            assert not key[Attribute.EXTRACTABLE]
            assert key[Attribute.WRAP] and key[Attribute.UNWRAP]
            assert not key[Attribute.ENCRYPT] and not key[Attribute.DECRYPT]
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                key[Attribute.VALUE]
    finally:
        lib.finalize()


def test_fresh_deployment_seals_under_a_dek_wrapped_in_the_hsm(
    tmp_path: Path, database_url: str, softhsm: SoftHsm, upstream: Upstream
) -> None:
    softhsm.init_key(database_url)
    proxy = start_hsm_proxy(tmp_path, database_url, softhsm)
    try:
        assert "first boot: generated DEK" in proxy.log(), proxy.log()
        agent_key = _agent(softhsm, database_url)
        _forward(proxy.url, agent_key, upstream)
    finally:
        assert proxy.stop() == 0, proxy.log()

    raw = _stored_record(database_url)
    assert raw is not None
    record = HsmWrappedDek.from_bytes(raw)
    assert record.kek == KEY_LABEL and len(record.wrapped) == 40
    fingerprint = softhsm.cli("enclave", "fingerprint", database_url=database_url)
    assert fingerprint.exit_code == 0, fingerprint.output
    assert f"key fingerprint: {record.fingerprint}" in fingerprint.output
    assert (
        f"stored DEK: fingerprint {record.fingerprint}, wrapped under HSM key 'tap-kek'"
        in fingerprint.output
    )

    # A restart unwraps the same DEK, in every worker; the credential sealed under it still opens.
    proxy = start_hsm_proxy(tmp_path, database_url, softhsm, TAP_WORKERS="2")
    try:
        for _ in range(4):
            _forward(proxy.url, agent_key, upstream)
        log = proxy.log()
        # The start-up check in the parent, and at least the worker that answered.
        assert log.count(f"DEK {record.fingerprint} unwrapped by HSM key 'tap-kek'") >= 2, log
        assert f"fingerprint {record.fingerprint}" in log
        assert USER_PIN not in log and "Traceback" not in log
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_env_deployment_moves_into_hsm_custody(
    tmp_path: Path, database_url: str, softhsm: SoftHsm, upstream: Upstream
) -> None:
    # 1. A plain env-key deployment seals a credential.
    tap = start_tap(tmp_path, database_url)
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    agent_key = tap.agent("bot", "--credentials", "demo")
    _forward(tap.url, agent_key, upstream)
    assert tap.proxy.stop() == 0
    softhsm.init_key(database_url)

    # 2. Without a wrapped DEK, HSM mode refuses to invent a key over sealed data.
    code, log = startup_failure(tmp_path, hsm_env(tmp_path, database_url, softhsm))
    assert code == 1 and "key custody failed at dek.first-boot:" in log, log
    assert _stored_record(database_url) is None

    # 3. A wrong env key is refused by the database's canary; nothing is stored.
    wrong = tmp_path / "wrong.key"
    wrong.write_text("ab" * 32 + "\n")
    refused = softhsm.cli(
        "enclave", "hsm-migrate-from-env", "--env-key-file", str(wrong), database_url=database_url
    )
    assert refused.exit_code == 1, refused.output
    assert "does not match this database" in refused.output
    assert _stored_record(database_url) is None

    # 4. Migrate: the env key becomes the DEK, wrapped inside the HSM.
    key_file = tmp_path / "env.key"
    key_file.write_text(TEST_KEY + "\n")
    migrated = softhsm.cli(
        "enclave",
        "hsm-migrate-from-env",
        "--env-key-file",
        str(key_file),
        database_url=database_url,
    )
    assert migrated.exit_code == 0, migrated.output
    assert (
        f"DEK fingerprint {ENV_FINGERPRINT} stored, wrapped under HSM key 'tap-kek'"
        in migrated.output
    )
    raw = _stored_record(database_url)
    assert raw is not None and bytes.fromhex(TEST_KEY) not in raw
    again = softhsm.cli(
        "enclave",
        "hsm-migrate-from-env",
        "--env-key-file",
        str(key_file),
        database_url=database_url,
    )
    assert again.exit_code == 1 and "already stored" in again.output
    assert _stored_record(database_url) == raw

    # 5. HSM mode, no env key: the credential sealed in env mode still opens.
    proxy = start_hsm_proxy(tmp_path, database_url, softhsm)
    try:
        _forward(proxy.url, agent_key, upstream)
        assert f"DEK {ENV_FINGERPRINT} unwrapped by HSM key 'tap-kek'" in proxy.log()
    finally:
        assert proxy.stop() == 0, proxy.log()
