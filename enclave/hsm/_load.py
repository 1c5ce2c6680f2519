"""Building the provider from settings, and creating the wrapping key."""

from __future__ import annotations

import asyncio

from enclave._provider import Pkcs11Settings
from enclave.hsm._provider import HsmKeyProvider
from enclave.hsm._target import HsmTarget
from enclave.hsm._token import create_wrapping_key as _create_in_token


def load_hsm_provider(settings: Pkcs11Settings) -> HsmKeyProvider:
    """Build the provider from ``TAP_PKCS11_*``. Raises CustodyError (``hsm.settings``)."""
    return HsmKeyProvider(HsmTarget.from_settings(settings))


async def create_wrapping_key(settings: Pkcs11Settings) -> HsmTarget:
    """Generate the wrapping key named by ``settings`` in its token (``tap enclave hsm-init``).

    Raises CustodyError; refuses when the label is taken.
    """
    target = HsmTarget.from_settings(settings)
    await asyncio.to_thread(_create_in_token, target)
    return target
