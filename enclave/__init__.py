"""Key custody: where TAP's master key comes from.

``app`` sees custody only through :func:`load_key_provider`. The default
provider reads the environment; with the ``enclave`` feature the key is
released by Azure Secure Key Release, and the Azure code is imported only then.
"""

from __future__ import annotations

from enclave._env import GENERATED_KEY_NAME, EnvKeyProvider
from enclave._fingerprint import DEK_BYTES, dek_fingerprint
from enclave._provider import CustodySettings, KeyProvider, SkrSettings, WrappedKeyStore
from enclave.errors import CustodyError, KeyFileError

__all__ = [
    "CustodyError",
    "CustodySettings",
    "DEK_BYTES",
    "EnvKeyProvider",
    "GENERATED_KEY_NAME",
    "KeyFileError",
    "KeyProvider",
    "SkrSettings",
    "WrappedKeyStore",
    "dek_fingerprint",
    "fetch_attestation_token",
    "load_key_provider",
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
    return EnvKeyProvider.from_settings(settings)


async def fetch_attestation_token(settings: CustodySettings, nonce: str) -> str:
    """A fresh MAA token bound to ``nonce`` (its ``x-ms-runtime`` is ``{"nonce": nonce}``).

    Only in enclave mode. Raises CustodyError (step ``attestation``) without
    the feature, or when the sidecar cannot give a token.
    """
    if "enclave" not in settings.features:
        raise CustodyError("attestation", "attestation tokens exist only in enclave mode")
    # NOTE: imported lazily, as in load_key_provider.
    from enclave.azure import fetch_attestation_token as fetch

    return await fetch(settings, nonce)
