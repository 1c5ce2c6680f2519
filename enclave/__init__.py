"""Key custody: where TAP's master key comes from.

``app`` sees custody only through :func:`load_key_provider`. The default
provider reads the environment; with the ``enclave`` feature the key is
released by Azure Secure Key Release, and the Azure code is imported only then;
with ``TAP_PKCS11_MODULE`` the key is unwrapped inside an HSM over PKCS#11
(:mod:`enclave.hsm`, likewise imported only then).
"""

from __future__ import annotations

from attestation import runtime_data as _runtime_data
from enclave._env import GENERATED_KEY_NAME, EnvKeyProvider
from enclave._fingerprint import DEK_BYTES, dek_fingerprint
from enclave._provider import (
    DEK_GENERATED,
    DEK_MIGRATED,
    CustodySettings,
    DekOrigin,
    DekWrapper,
    KeyProvider,
    Pkcs11Settings,
    SkrSettings,
    WrappedKeyStore,
)
from enclave._tls_key import tls_key_sha256
from enclave.errors import CustodyError, KeyFileError

__all__ = [
    "CustodyError",
    "CustodySettings",
    "DEK_BYTES",
    "DEK_GENERATED",
    "DEK_MIGRATED",
    "DekOrigin",
    "DekWrapper",
    "EnvKeyProvider",
    "GENERATED_KEY_NAME",
    "KeyFileError",
    "KeyProvider",
    "Pkcs11Settings",
    "SkrSettings",
    "WrappedKeyStore",
    "dek_fingerprint",
    "fetch_attestation_token",
    "load_key_provider",
    "tls_key_sha256",
]


def load_key_provider(settings: CustodySettings) -> KeyProvider:
    """Choose the provider for ``settings``. Raises CustodyError if it cannot be built."""
    if "enclave" in settings.features:
        # NOTE: imported lazily so a default build never loads Azure code.
        try:
            from enclave.azure import load_skr_provider
        except ImportError as exc:
            raise CustodyError(
                "enclave",
                f"the enclave feature needs the Azure extra: pip install '.[enclave]' ({exc.name})",
            ) from exc
        return load_skr_provider(settings)
    if settings.pkcs11.module is not None:
        # NOTE: imported lazily so only HSM deployments need python-pkcs11.
        try:
            from enclave.hsm import load_hsm_provider
        except ImportError as exc:
            raise CustodyError(
                "hsm.settings",
                f"HSM custody needs the hsm extra: pip install '.[hsm]' ({exc.name})",
            ) from exc
        return load_hsm_provider(settings.pkcs11)
    return EnvKeyProvider.from_settings(settings)


async def fetch_attestation_token(
    settings: CustodySettings, nonce: str, *, dek_origin: str | None
) -> str:
    """A fresh MAA token over this instance's runtime data (``attestation.runtime_data``).

    Its ``x-ms-runtime`` holds ``nonce``, the SHA-256 of the TLS key served
    (from ``settings.tls_cert_file``), the build sha and ``dek_origin``. Only in
    enclave mode. Raises CustodyError: step ``attestation`` without the
    feature or when the sidecar cannot give a token, ``attestation.tls-key``
    when the TLS certificate cannot be read.
    """
    if "enclave" not in settings.features:
        raise CustodyError("attestation", "attestation tokens exist only in enclave mode")
    data = _runtime_data(
        nonce=nonce,
        tls_spki_sha256=tls_key_sha256(settings.tls_cert_file),
        build_sha=settings.build_sha,
        dek_origin=dek_origin,
    )
    # NOTE: imported lazily, as in load_key_provider.
    from enclave.azure import fetch_attestation_token as fetch

    return await fetch(settings, data)
