"""The ``pkcs11`` key provider: the DEK is wrapped and unwrapped inside an HSM.

The wrapping key (an AES-256 key, sensitive and not extractable) never leaves
the token; the database holds only the wrapped DEK (:mod:`._record`). The
steps of :meth:`HsmKeyProvider.master_key`, in order; every failure is a
:class:`~enclave.errors.CustodyError` naming its step, and there is no fallback::

    (1) dek.read         read the wrapped-DEK record from the database
    (2) dek.record       parse it (canonical JSON, version 1, AES-KEY-WRAP-PAD)
    (3) dek.kek          the record names the key of TAP_PKCS11_KEY_LABEL
    (4) hsm.module       load the PKCS#11 module
        hsm.token        find the token labelled TAP_PKCS11_TOKEN_LABEL
        hsm.pin          read TAP_PKCS11_PIN_FILE
        hsm.login        log in as the user
        hsm.key          exactly one AES key with the label, sensitive, not
                         extractable, allowed to wrap and unwrap
    (5) dek.unwrap       C_UnwrapKey (CKM_AES_KEY_WRAP_PAD) into a session object
    (6) dek.length       exactly 32 bytes
    (7) dek.fingerprint  equal to the fingerprint the record names
    (8)                  close the session; log only the DEK's fingerprint

First boot (no record in (1)):

    (F1) dek.first-boot  refuse if the database already holds sealed data
    (F2)                 generate 32 random bytes, wrap them in the HSM (4),
                         insert the record write-once
    (F3)                 if another replica's record won the insert, adopt it:
                         steps (2) to (7) on the winner's record

Migration from env custody (:meth:`HsmKeyProvider.install`) wraps the current
master key, unchanged, as the DEK, so everything sealed under it still opens.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from typing import Final

from enclave._fingerprint import DEK_BYTES, check_unwrapped_dek, dek_fingerprint
from enclave._provider import DEK_GENERATED, DEK_MIGRATED, WrappedKeyStore
from enclave.errors import CustodyError
from enclave.hsm._record import HsmWrappedDek
from enclave.hsm._target import HsmTarget
from enclave.hsm._token import open_token

logger = logging.getLogger(__name__)

PROVIDER_NAME: Final = "pkcs11"


class HsmKeyProvider:
    """``enclave.KeyProvider`` for HSM custody."""

    name = PROVIDER_NAME

    def __init__(self, target: HsmTarget) -> None:
        self._target = target

    async def master_key(self, store: WrappedKeyStore) -> bytes:
        """Return the DEK. Raises CustodyError naming the step that failed."""
        raw = await store.get_wrapped_key()  # (1)
        if raw is None:
            return await self._first_boot(store)
        record = self._parse(raw)  # (2) (3)
        dek = await asyncio.to_thread(self._open, record)  # (4) to (7)
        logger.info(
            "DEK %s unwrapped by HSM key %r on token %r",
            record.fingerprint,
            self._target.key_label,
            self._target.token_label,
        )
        return dek

    async def install(self, store: WrappedKeyStore, dek: bytes) -> HsmWrappedDek:
        """Wrap ``dek`` (the env master key) in the HSM and store it write-once.

        Then unwrap the stored record again, so the move is proven before the
        operator switches modes. Raises CustodyError (step ``migrate`` when a
        wrapped DEK is already stored).
        """
        existing = await store.get_wrapped_key()
        if existing is not None:
            raise CustodyError("migrate", _already_stored(existing))
        ours = await asyncio.to_thread(self._wrap, dek)
        stored = await store.insert_wrapped_key_once(ours.to_bytes(), origin=DEK_MIGRATED)
        if stored != ours.to_bytes():
            raise CustodyError("migrate", _already_stored(stored))
        await asyncio.to_thread(self._open, ours)
        logger.info("DEK %s wrapped by HSM key %r", ours.fingerprint, self._target.key_label)
        return ours

    async def wrap_new_dek(self, dek: bytes) -> bytes:
        """Wrap a key rotation's new DEK in the HSM; the record is unwrapped once before it is returned.

        The caller stores it and installs it only when the rotation retires the
        old DEK. Raises CustodyError.
        """
        record = await asyncio.to_thread(self._wrap, dek)
        await asyncio.to_thread(self._open, record)
        logger.info(
            "rotation: new DEK %s wrapped by HSM key %r", record.fingerprint, self._target.key_label
        )
        return record.to_bytes()

    def _parse(self, raw: bytes) -> HsmWrappedDek:
        record = HsmWrappedDek.from_bytes(raw)
        if not hmac.compare_digest(record.kek.encode(), self._target.key_label.encode()):
            raise CustodyError(
                "dek.kek",
                f"the stored DEK is wrapped under the HSM key {record.kek!r}, but "
                f"TAP_PKCS11_KEY_LABEL is {self._target.key_label!r}",
            )
        return record

    def _open(self, record: HsmWrappedDek) -> bytes:
        with open_token(self._target) as token:
            dek = token.unwrap(record.wrapped)
        return check_unwrapped_dek(dek, record.fingerprint)

    def _wrap(self, dek: bytes) -> HsmWrappedDek:
        with open_token(self._target) as token:
            wrapped = token.wrap(dek)
        return HsmWrappedDek(
            kek=self._target.key_label, fingerprint=dek_fingerprint(dek), wrapped=wrapped
        )

    async def _first_boot(self, store: WrappedKeyStore) -> bytes:
        if await store.has_sealed_data():  # (F1)
            # Another replica may have stored its DEK (and sealed its canary) since we looked.
            raw = await store.get_wrapped_key()
            if raw is not None:
                return await asyncio.to_thread(self._open, self._parse(raw))
            raise CustodyError(
                "dek.first-boot",
                "no wrapped DEK is stored, but the database already holds data sealed under "
                "some other key; a new DEK would orphan it. Move an env-key deployment with "
                "`tap enclave hsm-migrate-from-env`, or point TAP at the database the DEK "
                "belongs to",
            )
        dek = secrets.token_bytes(DEK_BYTES)  # (F2)
        ours = await asyncio.to_thread(self._wrap, dek)
        stored = await store.insert_wrapped_key_once(ours.to_bytes(), origin=DEK_GENERATED)
        if stored == ours.to_bytes():
            logger.info(
                "first boot: generated DEK %s wrapped by HSM key %r",
                ours.fingerprint,
                self._target.key_label,
            )
            return dek
        adopted = await asyncio.to_thread(self._open, self._parse(stored))  # (F3)
        logger.info(
            "first boot: adopted DEK %s stored by another replica", dek_fingerprint(adopted)
        )
        return adopted


def _already_stored(raw: bytes) -> str:
    try:
        described = f"fingerprint {HsmWrappedDek.from_bytes(raw).fingerprint}"
    except CustodyError:
        described = "not an HSM record"
    return f"a wrapped DEK is already stored ({described}); nothing was changed"
