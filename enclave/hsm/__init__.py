"""HSM custody over PKCS#11: the DEK is wrapped by a key that never leaves the token.

Selected by ``TAP_PKCS11_MODULE`` (with ``TAP_PKCS11_TOKEN_LABEL``,
``TAP_PKCS11_KEY_LABEL`` and ``TAP_PKCS11_PIN_FILE``); imported only then, so
``python-pkcs11`` (the ``hsm`` extra) is needed only by HSM deployments.
"""

from __future__ import annotations

import asyncio

from enclave._provider import Pkcs11Settings
from enclave.hsm._provider import HsmKeyProvider
from enclave.hsm._record import ALGORITHM, HsmWrappedDek
from enclave.hsm._target import HsmTarget
from enclave.hsm._token import create_wrapping_key as _create_wrapping_key

__all__ = [
    "ALGORITHM",
    "HsmKeyProvider",
    "HsmTarget",
    "HsmWrappedDek",
    "create_wrapping_key",
    "load_hsm_provider",
]


def load_hsm_provider(settings: Pkcs11Settings) -> HsmKeyProvider:
    """Build the provider from ``TAP_PKCS11_*``. Raises CustodyError (``hsm.settings``)."""
    return HsmKeyProvider(HsmTarget.from_settings(settings))


async def create_wrapping_key(settings: Pkcs11Settings) -> HsmTarget:
    """Generate the wrapping key named by ``settings`` in its token (``tap enclave hsm-init``).

    Raises CustodyError; refuses when the label is taken.
    """
    target = HsmTarget.from_settings(settings)
    await asyncio.to_thread(_create_wrapping_key, target)
    return target
