"""The custody seam: what ``app`` needs from a key provider, and what it gives one."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal, Protocol, runtime_checkable

DekOrigin = Literal["generated", "migrated"]
"""Where a stored data key came from: made inside the enclave, or moved in from an env key."""
DEK_GENERATED: Final[DekOrigin] = "generated"
DEK_MIGRATED: Final[DekOrigin] = "migrated"


class Revealable(Protocol):
    """A masked secret (``app.secret.Secret`` satisfies this)."""

    def reveal(self) -> str: ...


class SkrSettings(Protocol):
    """Where the enclave build asks for its key (``TAP_SKR_*``).

    ``app.config.SkrSettings`` satisfies this. Endpoints may be bare host
    names or https URLs; :mod:`enclave.azure` validates them.
    """

    @property
    def sidecar_url(self) -> str: ...
    @property
    def maa_endpoint(self) -> str | None: ...
    @property
    def akv_endpoint(self) -> str | None: ...
    @property
    def key_id(self) -> str | None: ...
    @property
    def wait_secs(self) -> float: ...
    @property
    def release_via(self) -> str: ...
    @property
    def client_id(self) -> str | None: ...


class Pkcs11Settings(Protocol):
    """Where HSM custody finds its wrapping key (``TAP_PKCS11_*``).

    ``app.config.Pkcs11Settings`` satisfies this; ``module`` set selects HSM
    custody, and :mod:`enclave.hsm` validates the rest.
    """

    @property
    def module(self) -> Path | None: ...
    @property
    def token_label(self) -> str | None: ...
    @property
    def key_label(self) -> str: ...
    @property
    def pin_file(self) -> Path | None: ...


class CustodySettings(Protocol):
    """The settings custody reads. ``app.config.Config`` satisfies this."""

    @property
    def features(self) -> frozenset[str]: ...
    @property
    def encryption_key(self) -> Revealable | None: ...
    @property
    def encryption_key_file(self) -> Path | None: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def embedded_database(self) -> bool: ...
    @property
    def skr(self) -> SkrSettings: ...
    @property
    def tls_cert_file(self) -> Path | None:
        """The certificate the TLS terminator serves (its key hash goes into attestations)."""
        ...

    @property
    def build_sha(self) -> str: ...

    @property
    def pkcs11(self) -> Pkcs11Settings: ...


class WrappedKeyStore(Protocol):
    """Durable storage for a wrapped data key (the enclave provider uses it).

    ``app`` implements it over Postgres; the env provider ignores it.
    """

    async def get_wrapped_key(self) -> bytes | None: ...

    async def insert_wrapped_key_once(self, wrapped: bytes, *, origin: DekOrigin) -> bytes:
        """Insert unless a row exists; return the row that is stored now (ours or a winner's).

        ``origin`` is recorded with the row and reported by ``tap enclave
        fingerprint`` and ``/attestation``.
        """
        ...

    async def has_sealed_data(self) -> bool: ...


class KeyProvider(Protocol):
    """Where the 32-byte master key comes from."""

    @property
    def name(self) -> str: ...

    async def master_key(self, store: WrappedKeyStore) -> bytes:
        """Return the master key. Raises :class:`~enclave.errors.CustodyError`."""
        ...


@runtime_checkable
class DekWrapper(Protocol):
    """A provider that can wrap a new data key for a key rotation (wrapped custody)."""

    async def wrap_new_dek(self, dek: bytes) -> bytes:
        """The record to store for ``dek``, proven to unwrap. Raises CustodyError."""
        ...
