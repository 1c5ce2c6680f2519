"""What one worker process holds while it serves: pool, keys, caches, clients.

:func:`open_runtime` runs in Quart's ``before_serving`` (and, without the
serving parts, in the CLI and the start-up check) and :meth:`Runtime.close` in
``after_serving``: one pool and one upstream session per process. The custody
step runs here: the key provider yields the master key, the purpose keys are
derived, and the database's key canary must open with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import asyncpg

import enclave
from app import heap
from app.audit import AuditWriter
from app.audit_chain import CheckpointPolicy
from app.audit_spool import AuditSpool
from app.cache import LruCache, TeamCache, invalidate_on_change
from app.config import Config
from app.crypto import KeyRing
from app.errors import CryptoError, WrongEncryptionKey
from app.key_watcher import KeyWatcher
from app.listener import Listener
from app.oauth2.backoff import RefreshBackoff
from app.store import custody, db, key_versions
from app.store.migrate import migrate

logger = logging.getLogger(__name__)

# Upstream client limits: named so they can be read and tuned in one place.
UPSTREAM_POOL_LIMIT: Final = 256
UPSTREAM_POOL_PER_HOST: Final = 64
UPSTREAM_CONNECT_TIMEOUT_SECS: Final = 10.0
POOL_MAX_SIZE: Final = 20
SANITIZER_CACHE_ENTRIES: Final = 1024


@dataclass(slots=True)
class Runtime:
    config: Config
    pool: asyncpg.Pool
    keys: KeyRing
    database_url: str
    agent_cache: TeamCache[str, Any] = field(init=False)
    config_cache: TeamCache[tuple[str, str], Any] = field(init=False)
    sanitizers: LruCache[bytes, Any] = field(init=False)
    """Built sanitizers by a digest of the secrets they scrub (building one costs ~0.3 ms)."""
    oauth2_tokens: TeamCache[tuple[str, str], Any] = field(init=False)
    """OAuth 2 access tokens by (team, credential) (:mod:`app.oauth2.tokens`)."""
    oauth2_refreshing: dict[tuple[str, str], asyncio.Future[Any]] = field(default_factory=dict)
    """The refresh under way per (team, credential), shared by the requests that need it."""
    oauth2_backoff: RefreshBackoff = field(default_factory=RefreshBackoff)
    """Failed refreshes, answered again without asking the endpoint (:mod:`app.oauth2.backoff`)."""
    http: aiohttp.ClientSession | None = None
    audit: AuditWriter | None = None
    listener: Listener | None = None
    """The worker's one LISTEN connection (caches, approval executor, key versions)."""
    _key_watcher: KeyWatcher | None = None

    def __post_init__(self) -> None:
        self.agent_cache = TeamCache(self.config.cache_ttl_secs)
        self.config_cache = TeamCache(self.config.cache_ttl_secs)
        self.sanitizers = LruCache(SANITIZER_CACHE_ENTRIES)
        self.oauth2_tokens = TeamCache(self.config.cache_ttl_secs)

    async def start_serving(self) -> None:
        """Open what request handling needs: the upstream session, the audit writer, the cache listener."""
        from app.netguard import GuardedResolver, guarded_socket_factory

        # Large answers reuse freed memory instead of faulting in fresh pages (app.heap).
        heap.keep_freed_memory()
        allow_private = self.config.allow_private_targets
        # The resolver checks names; the socket factory checks every address actually dialled
        # (aiohttp skips the resolver for IP literals).
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(allow_private=allow_private),
            socket_factory=guarded_socket_factory(allow_private=allow_private),
            limit=UPSTREAM_POOL_LIMIT,
            limit_per_host=UPSTREAM_POOL_PER_HOST,
            use_dns_cache=False,
        )
        self.http = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=True,
            trust_env=False,
            skip_auto_headers=("User-Agent",),
            timeout=aiohttp.ClientTimeout(
                total=self.config.forward_timeout_secs, connect=UPSTREAM_CONNECT_TIMEOUT_SECS
            ),
        )
        spool = AuditSpool(self.config.data_dir / "audit-spool", self.config.audit_spool_max_bytes)
        policy = CheckpointPolicy(
            signer=self.keys.audit_signer(),
            every_records=self.config.audit_checkpoint_records,
            every_secs=self.config.audit_checkpoint_secs,
        )
        self.audit = AuditWriter(
            self.pool, self.config.audit_log, spool, policy, self.config.audit_checkpoint_log
        )
        await self.audit.start()
        self.listener = Listener(self.database_url)
        await invalidate_on_change(
            self.listener, [self.agent_cache, self.config_cache, self.oauth2_tokens]
        )
        self._key_watcher = KeyWatcher(self)
        await self._key_watcher.watch(self.listener)
        await self.listener.start()

    async def keys_for(self, version: int) -> KeyRing:
        """The key ring, refreshed first if it does not hold ``version`` (a rotation just began)."""
        if version not in self.keys.versions:
            async with db.connection(self.pool) as conn:
                fresh = await key_versions.ring_for(conn, self.keys, version)
            self.set_keys(fresh)
        return self.keys

    def set_keys(self, fresh: KeyRing) -> None:
        """Adopt a refreshed ring; the caches holding sealed values are dropped when a version goes."""
        if not set(self.keys.versions) <= set(fresh.versions):
            self.config_cache.clear()
        self.keys = fresh

    async def close(self) -> None:
        if self._key_watcher is not None:
            await self._key_watcher.stop()
        if self.listener is not None:
            await self.listener.stop()
        if self.audit is not None:
            await self.audit.stop()
        if self.http is not None:
            await self.http.close()
        with contextlib.suppress(Exception):
            await self.pool.close()


async def load_keys(config: Config, pool: asyncpg.Pool) -> KeyRing:
    """Obtain the master key through custody and check it against the database.

    Raises enclave.CustodyError or WrongEncryptionKey; both are fatal.
    """
    provider = enclave.load_key_provider(config)
    master_key = await provider.master_key(custody.PostgresWrappedKeyStore(pool))
    try:
        async with db.connection(pool) as conn:
            keys = await key_versions.load_ring(conn, master_key)
    except CryptoError:
        raise WrongEncryptionKey("the key provider returned a key that is not 32 bytes") from None
    finally:
        del master_key
    logger.info("master key loaded from %s (fingerprint %s)", provider.name, keys.fingerprint)
    return keys


async def open_runtime(config: Config, database_url: str) -> Runtime:
    """Connect, migrate, and load the keys. Raises TapError or CustodyError."""
    pool = await db.create_pool(database_url, max_size=POOL_MAX_SIZE)
    try:
        async with db.connection(pool) as conn:
            await migrate(conn)
        keys = await load_keys(config, pool)
    except BaseException:
        await pool.close()
        raise
    return Runtime(config=config, pool=pool, keys=keys, database_url=database_url)
