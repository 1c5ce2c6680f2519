"""Master-key versions: which keys are live, and how a process holding one learns the other.

A database never rotated has no rows here, and everything is sealed under
version 1. ``tap key rotate`` adds the next version (:func:`add_next`); while
two versions are live each row carries its own keys sealed under the other's,
so a process started with either master key opens both (:func:`load_ring`),
and a running one picks up the new version when notified on
:data:`KEYRING_CHANNEL` (:func:`refresh`). :func:`retire` ends a rotation:
the old version's row stays, stamped, so its key is refused by name.

Credential writes seal under :func:`write_version`, read here in the writer's
transaction with a share lock, so a writer that has not heard of a new
version yet still never writes under one that is being retired.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from app.crypto import KeyRing, VersionKeys, key_fingerprint, open_purposes
from app.errors import CryptoError, WrongEncryptionKey
from app.store import custody
from app.store.db import Conn

logger = logging.getLogger(__name__)

KEYRING_CHANNEL: Final = "tap_keyring"
FIRST_VERSION: Final = 1

_COLUMNS: Final = (
    "version, fingerprint, purpose_keys, transfer, transfer_under, wrapped_dek,"
    " retired_at IS NOT NULL AS retired"
)


@dataclass(frozen=True, slots=True, repr=False)
class KeyVersion:
    """One row: a master-key version and what a process needs to adopt it."""

    version: int
    fingerprint: str
    purpose_keys: bytes
    transfer: bytes | None
    """This version's keys sealed under ``transfer_under``'s, while a rotation runs."""
    transfer_under: int | None
    wrapped_dek: bytes | None
    """The custody record of a new data key, until the rotation installs it."""
    retired: bool

    def __repr__(self) -> str:
        return f"KeyVersion({self.version}, {self.fingerprint}, retired={self.retired})"


async def versions(conn: Conn) -> list[KeyVersion]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM key_versions ORDER BY version")
    return [
        KeyVersion(
            version=r["version"],
            fingerprint=r["fingerprint"],
            purpose_keys=bytes(r["purpose_keys"]),
            transfer=None if r["transfer"] is None else bytes(r["transfer"]),
            transfer_under=r["transfer_under"],
            wrapped_dek=None if r["wrapped_dek"] is None else bytes(r["wrapped_dek"]),
            retired=r["retired"],
        )
        for r in rows
    ]


async def lock(conn: Conn) -> None:
    """Serialise rotations (one at a time); readers and writers are not blocked."""
    await conn.execute("LOCK TABLE key_versions IN SHARE ROW EXCLUSIVE MODE")


async def write_version(conn: Conn) -> int:
    """The version new ciphertexts are sealed under, share-locked until the transaction ends."""
    version: int | None = await conn.fetchval(
        "SELECT version FROM key_versions WHERE retired_at IS NULL"
        " ORDER BY version DESC LIMIT 1 FOR SHARE"
    )
    return FIRST_VERSION if version is None else version


async def load_ring(conn: Conn, master_key: bytes) -> KeyRing:
    """The key ring of the master key custody yielded, with every live version it can open.

    Raises WrongEncryptionKey when the key is not one of this database's live
    keys (a retired key is named as such), or CryptoError for a malformed key.
    """
    rows = await versions(conn)
    if not rows:
        ring = KeyRing.from_master_key(master_key)
    else:
        fingerprint = key_fingerprint(master_key)
        mine = next((r for r in rows if r.fingerprint == fingerprint), None)
        if mine is None:
            raise WrongEncryptionKey(
                "the encryption key does not match this database (it was written with another key)"
            )
        if mine.retired:
            live = [r.fingerprint for r in rows if not r.retired]
            raise WrongEncryptionKey(
                f"the encryption key (fingerprint {fingerprint}) was retired by a key rotation; "
                f"configure the current key (fingerprint {', '.join(live) or 'none'})"
            )
        keys = VersionKeys.from_master_key(master_key)
        try:
            purposes = open_purposes(keys, mine.purpose_keys, version=mine.version)
        except CryptoError:
            raise WrongEncryptionKey(
                f"the key-version row {mine.version} does not open with its own key"
            ) from None
        ring = KeyRing(
            versions={mine.version: keys},
            write_version=mine.version,
            purposes=purposes,
            fingerprint=fingerprint,
        )
        ring = adopt(ring, rows)
    await custody.check_or_create_canary(conn, ring)
    return ring


async def refresh(conn: Conn, ring: KeyRing) -> KeyRing:
    """``ring`` with the live versions it can open added and retired ones dropped."""
    return adopt(ring, await versions(conn))


def adopt(ring: KeyRing, rows: Sequence[KeyVersion]) -> KeyRing:
    """The ring holding every live version reachable from what ``ring`` holds.

    A ring that holds no live version (its process slept through a whole
    rotation) is returned unchanged: it can open nothing new, and says so.
    """
    live = {r.version: r for r in rows if not r.retired}
    if not live:
        return ring
    known = {v: k for v, k in ring.versions.items() if v in live}
    if not known:
        logger.error(
            "the master key was rotated while this process was not listening; restart it "
            "with the current key"
        )
        return ring
    changed = True
    while changed:
        changed = False
        for row in live.values():
            if row.version in known or row.transfer is None or row.transfer_under not in known:
                continue
            holder = ring.with_versions(known, write_version=row.transfer_under)
            try:
                known[row.version] = holder.open_version_keys(
                    row.transfer,
                    of_version=row.version,
                    under=row.transfer_under,
                    fingerprint=row.fingerprint,
                )
            except CryptoError:
                logger.error("key version %d does not open; its transfer is damaged", row.version)
                continue
            changed = True
    if known.keys() == ring.versions.keys():
        return ring
    return ring.with_versions(known, write_version=max(known))


async def ring_for(conn: Conn, ring: KeyRing, version: int) -> KeyRing:
    """``ring``, refreshed from here if it does not hold ``version`` yet."""
    if version in ring.versions:
        return ring
    return await refresh(conn, ring)


async def insert(
    conn: Conn,
    *,
    version: int,
    fingerprint: str,
    purpose_keys: bytes,
    transfer: bytes | None = None,
    transfer_under: int | None = None,
    wrapped_dek: bytes | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO key_versions"
        " (version, fingerprint, purpose_keys, transfer, transfer_under, wrapped_dek)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        version,
        fingerprint,
        purpose_keys,
        transfer,
        transfer_under,
        wrapped_dek,
    )


async def set_transfer(conn: Conn, version: int, transfer: bytes, *, under: int) -> None:
    await conn.execute(
        "UPDATE key_versions SET transfer = $2, transfer_under = $3 WHERE version = $1",
        version,
        transfer,
        under,
    )


async def retire(conn: Conn, *, old: int, new: int) -> None:
    """Retire ``old`` and drop both transfers; the caller has proven nothing is left under ``old``."""
    await conn.execute(
        "UPDATE key_versions SET transfer = NULL, transfer_under = NULL,"
        " retired_at = CASE WHEN version = $1 THEN now() ELSE retired_at END,"
        " wrapped_dek = CASE WHEN version = $2 THEN NULL ELSE wrapped_dek END"
        " WHERE version IN ($1, $2)",
        old,
        new,
    )


async def notify(conn: Conn, version: int) -> None:
    """Tell every process (at commit) that the key versions changed."""
    await conn.execute("SELECT pg_notify($1, $2)", KEYRING_CHANNEL, str(version))


async def compact(conn: Conn) -> None:
    """Rewrite the table so the dropped transfers do not linger in dead row versions.

    Outside any transaction (VACUUM cannot run in one). Raises asyncpg errors;
    the caller treats a failure as a warning.
    """
    await conn.execute("VACUUM FULL key_versions")
