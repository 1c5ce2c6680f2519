"""The ``azure-skr`` key provider: the DEK is opened only with a KEK released by attestation.

The steps of :meth:`SkrKeyProvider.master_key`, in order; every failure is a
:class:`~enclave.errors.CustodyError` naming its step, and there is no fallback::

    (1) dek.read         read the wrapped-DEK record from the database
    (2) dek.record       parse it (canonical JSON, version 1, RSA-OAEP-256)
    (3) dek.kek          the record names the KEK of TAP_SKR_KEY_ID
    (4) kek.release      wait (bounded) for the sidecar, then release the KEK:
                         sidecar.status, sidecar.release, kek.parse (RSA or
                         RSA-HSM, >= 2048 bits, consistent private key)
    (5) dek.unwrap       RSA-OAEP-256 with the released KEK
    (6) dek.length       exactly 32 bytes
    (7) dek.fingerprint  equal to the fingerprint the record names
    (8)                  drop the KEK; log only the DEK's fingerprint

First boot (no record in (1)):

    (F1) dek.first-boot  refuse if the database already holds sealed data
                         (a DEK from nowhere would orphan it)
    (F2) kek.release     as (4)
    (F3)                 generate 32 random bytes, wrap them with the KEK's
                         public half, insert the record write-once with
                         origin "generated"
    (F4)                 if another replica's record won the insert, adopt
                         it: steps (2), (3), (5) to (7) on the winner's record
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Final, Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from enclave._fingerprint import DEK_BYTES, dek_fingerprint
from enclave._provider import DEK_GENERATED, WrappedKeyStore
from enclave.azure._envelope import WrappedDek, unwrap_dek, wrap_dek
from enclave.azure._jwk import jwk_object, private_key_from_jwk
from enclave.azure._sidecar import SidecarClient
from enclave.azure._target import SkrTarget
from enclave.errors import CustodyError

logger = logging.getLogger(__name__)

PROVIDER_NAME: Final = "azure-skr"


class KekSource(Protocol):
    """Where the released KEK comes from: the sidecar, or Key Vault directly."""

    @property
    def name(self) -> str: ...

    async def release(self) -> rsa.RSAPrivateKey:
        """Release the KEK. Raises CustodyError."""
        ...


class SidecarKekSource:
    """Releases the KEK through the SKR sidecar's ``/key/release``."""

    name = "sidecar"

    def __init__(self, target: SkrTarget) -> None:
        self._target = target
        self._client = SidecarClient(target.sidecar_url)

    async def release(self) -> rsa.RSAPrivateKey:
        await self._client.wait_ready(self._target.wait_secs)
        key = await self._client.release_key(
            maa_host=self._target.maa_host,
            akv_host=self._target.akv_host,
            kid=self._target.sidecar_kid,
        )
        return private_key_from_jwk(jwk_object(key, step="kek.parse"), step="kek.parse")


class SkrKeyProvider:
    """``enclave.KeyProvider`` for the enclave build."""

    name = PROVIDER_NAME

    def __init__(self, target: SkrTarget, source: KekSource) -> None:
        self._target = target
        self._source = source

    async def master_key(self, store: WrappedKeyStore) -> bytes:
        """Return the DEK. Raises CustodyError naming the step that failed."""
        raw = await store.get_wrapped_key()  # (1)
        if raw is None:
            return await self._first_boot(store)
        record = self._parse(raw)  # (2) (3)
        dek = await self._open(record)  # (4) to (8)
        logger.info(
            "DEK %s opened with KEK %s (via %s)",
            record.fingerprint,
            self._target.kid,
            self._source.name,
        )
        return dek

    def _parse(self, raw: bytes) -> WrappedDek:
        record = WrappedDek.from_bytes(raw)
        if not hmac.compare_digest(record.kid.encode(), self._target.kid.encode()):
            raise CustodyError(
                "dek.kek",
                f"the stored DEK is wrapped under {record.kid}, but TAP_SKR_KEY_ID is "
                f"{self._target.kid}; set TAP_SKR_KEY_ID to the key the DEK was wrapped with "
                "(after a KEK rotation, install the re-wrapped DEK first: tap enclave rewrap-dek)",
            )
        return record

    async def _open(self, record: WrappedDek) -> bytes:
        kek = await self._source.release()
        try:
            return unwrap_dek(record, kek)
        finally:
            # NOTE: Python cannot wipe memory; dropping the only reference lets
            # OpenSSL free (and clear) the key now rather than at exit.
            del kek

    async def _first_boot(self, store: WrappedKeyStore) -> bytes:
        if await store.has_sealed_data():  # (F1)
            # Another replica may have stored its DEK (and sealed its canary)
            # since we looked: its record is then the one to use.
            raw = await store.get_wrapped_key()
            if raw is not None:
                record = self._parse(raw)
                return await self._open(record)
            raise CustodyError(
                "dek.first-boot",
                "no wrapped DEK is stored, but the database already holds data sealed under "
                "some other key; a new DEK would orphan it. Move an env-key deployment with "
                "`tap enclave migrate-from-env`, or point TAP at the database the DEK belongs to",
            )
        kek = await self._source.release()  # (F2)
        try:
            dek = secrets.token_bytes(DEK_BYTES)  # (F3)
            ours = wrap_dek(dek, kek.public_key(), kid=self._target.kid)
            stored = await store.insert_wrapped_key_once(ours.to_bytes(), origin=DEK_GENERATED)
            if stored == ours.to_bytes():
                logger.info(
                    "first boot: generated DEK %s under KEK %s", ours.fingerprint, self._target.kid
                )
                return dek
            winner = self._parse(stored)  # (F4)
            adopted = unwrap_dek(winner, kek)
            logger.info(
                "first boot: adopted DEK %s stored by another replica", dek_fingerprint(adopted)
            )
            return adopted
        finally:
            del kek
