"""HSM custody over PKCS#11: the DEK is wrapped by a key that never leaves the token.

Selected by ``TAP_PKCS11_MODULE`` (with ``TAP_PKCS11_TOKEN_LABEL``,
``TAP_PKCS11_KEY_LABEL`` and ``TAP_PKCS11_PIN_FILE``); imported only then, so
``python-pkcs11`` (the ``hsm`` extra) is needed only by HSM deployments.
"""

from __future__ import annotations

from enclave.hsm._load import create_wrapping_key, load_hsm_provider
from enclave.hsm._provider import HsmKeyProvider
from enclave.hsm._record import ALGORITHM, HsmWrappedDek
from enclave.hsm._target import HsmTarget

__all__ = [
    "ALGORITHM",
    "HsmKeyProvider",
    "HsmTarget",
    "HsmWrappedDek",
    "create_wrapping_key",
    "load_hsm_provider",
]
