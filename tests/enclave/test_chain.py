"""The whole Secure Key Release chain against the fakes, in process.

TAP -> sidecar -> MAA (token with the group's SEV-SNP claims) -> Key Vault
(release policy evaluated against the token) -> sidecar -> TAP unwraps the DEK.
"""

from __future__ import annotations

import asyncio

import pytest

import enclave
from app.crypto import key_fingerprint
from app.store import db
from app.store.custody import PostgresWrappedKeyStore
from app.store.migrate import migrate
from enclave.azure import WrappedDek
from tests.enclave.conftest import HOSTDATA, KEY_NAME, AzureFakes


async def _boot(azure: AzureFakes, database_url: str, store: PostgresWrappedKeyStore) -> bytes:
    provider = enclave.load_key_provider(azure.config(database_url))
    assert provider.name == "azure-skr"
    return await provider.master_key(store)


async def test_policy_match_releases_and_first_boot_stores_one_dek(
    azure: AzureFakes, database_url: str, store: PostgresWrappedKeyStore
) -> None:
    dek = await _boot(azure, database_url, store)
    assert len(dek) == 32
    record = WrappedDek.from_bytes(await store.get_wrapped_key() or b"")
    assert record.kid == azure.kid
    assert record.fingerprint == enclave.dek_fingerprint(dek) == key_fingerprint(dek)
    # The row says the key was made here, inside the enclave.
    assert await store.get_dek_origin() == "generated"
    # A second boot opens the stored DEK rather than making a new one.
    assert await _boot(azure, database_url, store) == dek
    # What each party received.
    release = azure.sidecar.requests("/key/release")[0].json()
    assert release == {
        "maa_endpoint": f"localhost:{azure.maa.port}",
        "akv_endpoint": azure.kv.host,
        "kid": f"{KEY_NAME}/{azure.version}",
    }
    assert len(azure.sidecar.requests("/status")) >= 2
    assert [r["hostdata"] for r in azure.kv.releases] == [HOSTDATA, HOSTDATA]
    assert all(r["enc"] == "RSA_AES_KEY_WRAP_256" for r in azure.kv.releases)
    assert azure.maa.tokens[0]["x-ms-sevsnpvm-is-debuggable"] is False


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ("hostdata", "x-ms-sevsnpvm-hostdata"),
        ("debuggable", "x-ms-sevsnpvm-is-debuggable"),
    ],
    ids=["changed-hostdata", "debuggable-vm"],
)
async def test_policy_mismatch_is_refused(
    azure: AzureFakes, database_url: str, store: PostgresWrappedKeyStore, change: str, check: str
) -> None:
    if change == "hostdata":
        azure.sidecar.hostdata = "ab" * 32
    else:
        azure.sidecar.debuggable = True
    with pytest.raises(enclave.CustodyError) as info:
        await _boot(azure, database_url, store)
    assert info.value.step == "sidecar.release"
    assert "403" in str(info.value) and "hostdata" in str(info.value)
    assert azure.kv.releases == []
    assert azure.kv.refusals and "release-policy" in azure.kv.refusals[0]
    assert azure.maa.tokens[-1][check] == (azure.sidecar.hostdata if change == "hostdata" else True)
    # Nothing was stored: a refused release leaves the database as it was.
    assert await store.get_wrapped_key() is None


async def test_two_replicas_on_an_empty_database_converge_on_one_dek(
    azure: AzureFakes, database_url: str
) -> None:
    pools = [await db.create_pool(database_url, max_size=2) for _ in range(2)]
    try:
        async with pools[0].acquire() as conn:
            await migrate(conn)
        stores = [PostgresWrappedKeyStore(pool) for pool in pools]
        first, second = await asyncio.gather(*(_boot(azure, database_url, s) for s in stores))
        assert first == second
        record = WrappedDek.from_bytes(await stores[0].get_wrapped_key() or b"")
        assert record.fingerprint == enclave.dek_fingerprint(first)
        assert len(azure.kv.releases) == 2
    finally:
        for pool in pools:
            await pool.close()


async def test_first_boot_is_refused_when_sealed_data_exists(
    azure: AzureFakes, database_url: str, store: PostgresWrappedKeyStore
) -> None:
    from app.crypto import KeyRing
    from app.store.custody import check_or_create_canary

    # An env-key deployment wrote its canary: data exists under some other key.
    async with store._pool.acquire() as conn:
        await check_or_create_canary(conn, KeyRing.from_master_key(b"\x07" * 32))
    with pytest.raises(enclave.CustodyError) as info:
        await _boot(azure, database_url, store)
    assert info.value.step == "dek.first-boot"
    assert "migrate-from-env" in str(info.value)
    # Refused before asking for the key.
    assert azure.sidecar.requests("/key/release") == []
    assert await store.get_wrapped_key() is None
