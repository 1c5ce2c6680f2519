"""The Azure side, faked on loopback: MAA, Key Vault (HTTPS) and the SKR sidecar.

``azure`` starts all three with one KEK (``tap-kek``, one version) whose release
policy authorizes :data:`HOSTDATA` on the fake MAA; the sidecar presents that
hostdata and a non-debuggable VM unless a test changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.config import Config
from app.store import db
from app.store.custody import PostgresWrappedKeyStore
from app.store.migrate import migrate
from tests.support.fake_keyvault import FakeKeyVault, sevsnp_policy
from tests.support.fake_maa import FakeMaa
from tests.support.fake_sidecar import FakeSidecar

HOSTDATA = hashlib.sha256(b"package policy\n# the TAP test container group\n").hexdigest()
KEY_NAME = "tap-kek"


@dataclass
class AzureFakes:
    maa: FakeMaa
    kv: FakeKeyVault
    sidecar: FakeSidecar
    version: str

    @property
    def kid(self) -> str:
        return self.kv.kid(KEY_NAME, self.version)

    def new_version(self) -> str:
        return self.kv.create_key(KEY_NAME, sevsnp_policy(self.maa.issuer, HOSTDATA))

    def env(self, *, version: str | None = None, **extra: str) -> dict[str, str]:
        env = {
            "TAP_FEATURES": "enclave",
            "TAP_SKR_SIDECAR_URL": self.sidecar.url,
            "TAP_SKR_MAA_ENDPOINT": self.maa.issuer,
            "TAP_SKR_AKV_ENDPOINT": self.kv.url,
            "TAP_SKR_KEY_ID": self.kv.kid(KEY_NAME, version or self.version),
            "TAP_SKR_WAIT_SECS": "5",
        }
        env.update(extra)
        return env

    def config(self, database_url: str, **extra: str) -> Config:
        return Config.from_env({"POSTGRES_DATABASE_URL": database_url, **self.env(**extra)})


@pytest.fixture
def azure(tmp_path: Path) -> Iterator[AzureFakes]:
    maa = FakeMaa().start()
    kv = FakeKeyVault(maa, tmp_path).start()
    version = kv.create_key(KEY_NAME, sevsnp_policy(maa.issuer, HOSTDATA))
    sidecar = FakeSidecar(hostdata=HOSTDATA, ca_file=kv.tls.ca_file, maa_url=maa.url).start()
    yield AzureFakes(maa, kv, sidecar, version)
    sidecar.stop()
    kv.stop()
    maa.stop()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[PostgresWrappedKeyStore]:
    """The custody table of a fresh, migrated database."""
    pool = await db.create_pool(database_url, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn)
    yield PostgresWrappedKeyStore(pool)
    await pool.close()
