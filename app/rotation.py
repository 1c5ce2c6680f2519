"""Online master-key rotation: re-seal every sealed value under a new key, then retire the old.

The steps, each safe to repeat, so a run that was killed or interrupted is
resumed by running it again::

    (1) begin    add the next key version, its keys sealed under the current
                 one's and the other way round, and notify every process: from
                 the commit on, every process opens both versions and seals new
                 values under the new one (app.store.key_versions)
    (2) reseal   in batches, one transaction each: lock values still under the
                 old version, open them, seal them under the new one
    (3) verify   open every sealed value with the new key alone
    (4) retire   in one transaction: prove no value is under any other version,
                 seal the canary afresh, install the new wrapped data key
                 (wrapped custody), retire the old version and drop both
                 transfers, notify; then VACUUM FULL the key versions

NOTE: while a rotation runs, the new key's sealing keys are stored sealed
under the old key (that is how running processes learn them without a
restart). Someone who holds the old key and reads the database in that
window learns the new key too. Rotation retires a key that leaked on its
own; if whoever holds it may also read the database, close that access first.
Backups taken before the rotation stay readable with the old key.

Step (1) is skipped when a rotation is already under way (it is resumed with
its own new key), and the whole job is a no-op once the new key is current.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import asyncpg

from app.crypto import KeyRing, VersionKeys
from app.errors import CryptoError, RotationError
from app.store import custody, db, key_versions, sealed
from app.store.sealed import SEALED_COLUMNS, SealedColumn

logger = logging.getLogger(__name__)

BATCH_SIZE: Final = 200

OnProgress = Callable[[int, int], None]
"""Called with (values under the new key, values in all) after every batch."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A rotation under way: the two live versions and a ring that opens both."""

    old: int
    new: int
    keys: KeyRing
    """Holds both versions and writes under ``new``."""


async def pending(pool: asyncpg.Pool, keys: KeyRing) -> Pending | None:
    """The rotation under way, if any. Raises RotationError when ``keys`` cannot open both."""
    async with db.connection(pool) as conn:
        rows = await key_versions.versions(conn)
        keys = key_versions.adopt(keys, rows)
    live = [r.version for r in rows if not r.retired]
    if len(live) < 2:
        return None
    old, new = min(live), max(live)
    if old not in keys.versions or new not in keys.versions:
        raise RotationError(
            f"a rotation from key version {old} to {new} is under way, but this key opens "
            f"neither side; use the key of version {old} or {new}"
        )
    return Pending(old=old, new=new, keys=keys)


async def begin(
    pool: asyncpg.Pool, keys: KeyRing, new_master_key: bytes, *, wrapped_dek: bytes | None
) -> Pending:
    """Step (1): add the next version under ``new_master_key``. Raises RotationError."""
    new_keys = VersionKeys.from_master_key(new_master_key)
    async with db.transaction(pool) as conn:
        await key_versions.lock(conn)
        rows = await key_versions.versions(conn)
        if any(hmac.compare_digest(r.fingerprint, new_keys.fingerprint) for r in rows) or (
            hmac.compare_digest(keys.fingerprint, new_keys.fingerprint)
        ):
            raise RotationError(
                f"the new key (fingerprint {new_keys.fingerprint}) is not new: this database "
                "has used it before; generate a fresh one (openssl rand -hex 32)"
            )
        live = [r for r in rows if not r.retired]
        if len(live) > 1:
            raise RotationError("another rotation began meanwhile; run the command again")
        current = live[0].version if live else key_versions.FIRST_VERSION
        if keys.write_version != current or current not in keys.versions:
            raise RotationError(f"this key is not the current one (version {current})")
        if not rows:
            # Never rotated: record version 1 first, so the new version can point at it.
            await key_versions.insert(
                conn,
                version=current,
                fingerprint=keys.version(current).fingerprint,
                purpose_keys=keys.seal_purposes(under=current),
            )
        new = max((r.version for r in rows), default=current) + 1
        both = keys.with_versions(
            {current: keys.version(current), new: new_keys}, write_version=new
        )
        await key_versions.insert(
            conn,
            version=new,
            fingerprint=new_keys.fingerprint,
            purpose_keys=both.seal_purposes(under=new),
            transfer=both.seal_version_keys(new_keys, of_version=new, under=current),
            transfer_under=current,
            wrapped_dek=wrapped_dek,
        )
        await key_versions.set_transfer(
            conn,
            current,
            both.seal_version_keys(keys.version(current), of_version=current, under=new),
            under=new,
        )
        await key_versions.notify(conn, new)
    logger.info("key rotation: version %d (%s) added", new, new_keys.fingerprint)
    return Pending(old=current, new=new, keys=both)


async def reseal(
    pool: asyncpg.Pool,
    rotation: Pending,
    on_progress: OnProgress,
    *,
    batch_size: int = BATCH_SIZE,
) -> None:
    """Step (2): move every value under the old version to the new one, a batch per transaction."""
    done, total = await _counts(pool, rotation)
    on_progress(done, total)
    for column in SEALED_COLUMNS:
        while True:
            async with db.transaction(pool) as conn:
                batch = await sealed.lock_batch(
                    conn, column, version=rotation.old, limit=batch_size
                )
                if not batch:
                    break
                resealed = [(row, _reseal(rotation, column, row)) for row in batch]
                await sealed.write_resealed(conn, column, resealed, version=rotation.new)
            done += len(batch)
            on_progress(min(done, total), max(total, done))
    # Writers and deletions ran meanwhile: the last line counts afresh.
    on_progress(*await _counts(pool, rotation))


async def _counts(pool: asyncpg.Pool, rotation: Pending) -> tuple[int, int]:
    """(values under the new version, values in all)."""
    done = total = 0
    async with db.connection(pool) as conn:
        for column in SEALED_COLUMNS:
            total += await sealed.count(conn, column)
            done += await sealed.count(conn, column, version=rotation.new)
    return done, total


def _reseal(rotation: Pending, column: SealedColumn, row: sealed.SealedRow) -> bytes:
    try:
        return sealed.reseal(rotation.keys, column, row, to_version=rotation.new)
    except CryptoError:
        raise RotationError(
            f"a value in {column.label} ({_describe(row)}) does not open under key version "
            f"{row.version}; nothing was retired"
        ) from None


async def verify(pool: asyncpg.Pool, rotation: Pending, *, batch_size: int = BATCH_SIZE) -> int:
    """Step (3): open every sealed value with the new key alone; return how many. Raises RotationError."""
    only_new = rotation.keys.with_versions(
        {rotation.new: rotation.keys.version(rotation.new)}, write_version=rotation.new
    )
    verified = 0
    async with db.connection(pool) as conn:
        for column in SEALED_COLUMNS:
            last: tuple[object, ...] | None = None
            while rows := await sealed.after(conn, column, last, limit=batch_size):
                for row in rows:
                    try:
                        sealed.open_row(only_new, column, row)
                    except CryptoError:
                        raise RotationError(
                            f"a value in {column.label} ({_describe(row)}) does not open under "
                            f"the new key (it is under version {row.version}); run the command "
                            "again to resume"
                        ) from None
                verified += len(rows)
                last = rows[-1].key
    return verified


async def retire(pool: asyncpg.Pool, rotation: Pending) -> None:
    """Step (4): prove nothing is left under the old version, then retire it. Raises RotationError."""
    only_new = rotation.keys.with_versions(
        {rotation.new: rotation.keys.version(rotation.new)}, write_version=rotation.new
    )
    async with db.transaction(pool) as conn:
        await key_versions.lock(conn)
        rows = {r.version: r for r in await key_versions.versions(conn)}
        if rows[rotation.old].retired or rows[rotation.new].retired:
            raise RotationError("another process finished this rotation meanwhile")
        # Writers share-lock the newest version's row; retiring waits for them (the
        # UPDATEs below), and the counts after that see every value they wrote.
        await key_versions.retire(conn, old=rotation.old, new=rotation.new)
        for column in SEALED_COLUMNS:
            left = await sealed.count_not_under(conn, column, rotation.new)
            if left:
                raise RotationError(
                    f"{left} value(s) in {column.label} are not under the new key yet; "
                    "run the command again to resume"
                )
        await custody.reseal_canary(conn, only_new)
        wrapped = rows[rotation.new].wrapped_dek
        if wrapped is not None:
            await custody.install_rotated_key(conn, wrapped)
        await key_versions.notify(conn, rotation.new)
    logger.info("key rotation: version %d retired", rotation.old)
    # NOTE: the new key's transfer was sealed under the old key; rewrite the table so
    # no dead row version keeps it for someone who holds the old key and a disk image.
    try:
        async with db.connection(pool) as conn:
            await key_versions.compact(conn)
    except Exception:  # the rotation itself is done; say what is left to do
        logger.warning(
            "key rotation: could not run VACUUM FULL key_versions; run it as the table's owner"
        )


def _describe(row: sealed.SealedRow) -> str:
    return ", ".join(str(part) for part in row.key)
