"""Azure Secure Key Release: the enclave build's only source of the data key.

Imported only when ``TAP_FEATURES`` includes ``enclave``
(:func:`enclave.load_key_provider`, :func:`enclave.fetch_attestation_token`,
and the ``tap enclave`` commands). The KEK is released either by the SKR
sidecar (the default) or, with ``TAP_SKR_RELEASE_VIA=keyvault``, by Key Vault
directly with the container group's managed identity and an MAA token from the
sidecar; the DEK itself lives wrapped in the database (:mod:`._envelope`).
"""

from __future__ import annotations

from enclave.azure._envelope import ALGORITHM, WrappedDek, unwrap_dek, wrap_dek
from enclave.azure._jwk import (
    MIN_RSA_BITS,
    PRIVATE_MEMBERS,
    jwk_object,
    private_jwk,
    private_key_from_jwk,
    public_jwk,
    public_key_from_jwk,
)
from enclave.azure._load import fetch_attestation_token, load_skr_provider
from enclave.azure._sidecar import SidecarClient
from enclave.azure._skr_provider import KekSource, SidecarKekSource, SkrKeyProvider
from enclave.azure._target import SkrTarget, parse_key_id

__all__ = [
    "ALGORITHM",
    "KekSource",
    "MIN_RSA_BITS",
    "PRIVATE_MEMBERS",
    "SidecarClient",
    "SidecarKekSource",
    "SkrKeyProvider",
    "SkrTarget",
    "WrappedDek",
    "fetch_attestation_token",
    "jwk_object",
    "load_skr_provider",
    "parse_key_id",
    "private_jwk",
    "private_key_from_jwk",
    "public_jwk",
    "public_key_from_jwk",
    "unwrap_dek",
    "wrap_dek",
]
