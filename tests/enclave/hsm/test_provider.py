"""The HSM provider against SoftHSM2 in this process: replicas racing at first boot, migration.

The store is a small in-memory stand-in so each race can be staged exactly;
the token, its key and every wrap and unwrap are real.
"""

from __future__ import annotations

import os

import pytest

from enclave import CustodyError, dek_fingerprint
from enclave.hsm import HsmKeyProvider, HsmTarget, HsmWrappedDek
from tests.enclave.hsm.conftest import KEY_LABEL, SoftHsm


class MemoryStore:
    """``WrappedKeyStore`` in memory; ``winner`` is what another replica inserted first."""

    def __init__(self, *, stored: bytes | None = None, sealed: bool = False) -> None:
        self.stored = stored
        self.sealed = sealed
        self.winner: bytes | None = None
        self.origin: str | None = None

    async def get_wrapped_key(self) -> bytes | None:
        return self.stored

    async def insert_wrapped_key_once(self, wrapped: bytes, *, origin: str) -> bytes:
        if self.winner is not None and self.stored is None:
            self.stored = self.winner
        if self.stored is None:
            self.stored = wrapped
            self.origin = origin
        return self.stored

    async def get_dek_origin(self) -> str | None:
        return self.origin

    async def has_sealed_data(self) -> bool:
        return self.sealed


def _provider(hsm: SoftHsm) -> HsmKeyProvider:
    return HsmKeyProvider(HsmTarget(hsm.module, hsm.token_label, KEY_LABEL, hsm.pin_file))


@pytest.fixture
def provider(softhsm: SoftHsm, database_url: str) -> HsmKeyProvider:
    softhsm.init_key(database_url)
    return _provider(softhsm)


async def test_first_boot_stores_a_dek_that_later_boots_unwrap(provider: HsmKeyProvider) -> None:
    store = MemoryStore()
    dek = await provider.master_key(store)
    assert store.stored is not None
    record = HsmWrappedDek.from_bytes(store.stored)
    assert record.fingerprint == dek_fingerprint(dek) and dek not in store.stored
    assert store.origin == "generated"
    assert await provider.master_key(store) == dek


async def test_a_replica_that_loses_the_first_boot_race_adopts_the_winner(
    provider: HsmKeyProvider,
) -> None:
    winner_dek = await provider.master_key(first := MemoryStore())
    store = MemoryStore()
    store.winner = first.stored
    assert await provider.master_key(store) == winner_dek
    assert store.stored == first.stored


async def test_first_boot_over_sealed_data_adopts_a_record_stored_meanwhile(
    provider: HsmKeyProvider,
) -> None:
    first = MemoryStore()
    dek = await provider.master_key(first)

    class Racing(MemoryStore):
        # The first read sees no record; by the time sealed data is seen, it is there.
        async def get_wrapped_key(self) -> bytes | None:
            found, self.stored = self.stored, first.stored
            return found

    assert await provider.master_key(Racing(sealed=True)) == dek


async def test_first_boot_over_sealed_data_without_a_record_is_refused(
    provider: HsmKeyProvider,
) -> None:
    store = MemoryStore(sealed=True)
    with pytest.raises(CustodyError) as caught:
        await provider.master_key(store)
    assert caught.value.step == "dek.first-boot"
    assert store.stored is None


async def test_install_wraps_the_given_key_once(provider: HsmKeyProvider) -> None:
    env_key = os.urandom(32)
    store = MemoryStore()
    record = await provider.install(store, env_key)
    assert record.fingerprint == dek_fingerprint(env_key)
    assert store.stored == record.to_bytes()
    assert store.origin == "migrated"
    assert await provider.master_key(store) == env_key
    with pytest.raises(CustodyError) as caught:
        await provider.install(store, os.urandom(32))
    assert caught.value.step == "migrate" and "already stored" in caught.value.problem
    assert store.stored == record.to_bytes()
