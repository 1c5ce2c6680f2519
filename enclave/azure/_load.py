"""Building the provider from settings, and fetching attestation tokens."""

from __future__ import annotations

from typing import Final

from enclave._provider import CustodySettings
from enclave.azure._sidecar import SidecarClient
from enclave.azure._skr_provider import SidecarKekSource, SkrKeyProvider
from enclave.azure._target import SkrTarget
from enclave.errors import CustodyError

RELEASE_VIA_SIDECAR: Final = "sidecar"
RELEASE_VIA_KEYVAULT: Final = "keyvault"


def load_skr_provider(settings: CustodySettings) -> SkrKeyProvider:
    """Build the provider from the ``TAP_SKR_*`` settings. Raises CustodyError."""
    target = SkrTarget.from_settings(settings.skr)
    via = settings.skr.release_via
    if via == RELEASE_VIA_SIDECAR:
        return SkrKeyProvider(target, SidecarKekSource(target))
    if via == RELEASE_VIA_KEYVAULT:
        try:
            from enclave.azure._keyvault import KeyVaultKekSource
        except ImportError as exc:
            raise CustodyError(
                "skr.settings",
                "TAP_SKR_RELEASE_VIA=keyvault needs the Azure SDK: "
                f"pip install '.[enclave]' ({exc.name})",
            ) from exc
        return SkrKeyProvider(target, KeyVaultKekSource(target, client_id=settings.skr.client_id))
    raise CustodyError(
        "skr.settings", f"TAP_SKR_RELEASE_VIA must be sidecar or keyvault, got {via!r}"
    )


async def fetch_attestation_token(settings: CustodySettings, runtime_data: bytes) -> str:
    """A fresh MAA token whose ``x-ms-runtime`` is ``runtime_data`` (a JSON object).

    Raises CustodyError (step ``attestation``) when the sidecar cannot give one.
    """
    target = SkrTarget.from_settings(settings.skr)
    return await SidecarClient(target.sidecar_url).attest_maa(
        maa_host=target.maa_host, runtime_data=runtime_data, step="attestation"
    )
