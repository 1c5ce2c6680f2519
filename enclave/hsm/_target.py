"""The validated ``TAP_PKCS11_*`` settings, and reading the PIN file.

Validation happens here rather than in ``app.config`` so that a half-configured
HSM fails like every other custody step: exit 1, ``key custody failed at
hsm.settings``. The PIN is read only when a session is opened and is never
kept on an object.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from enclave._provider import Pkcs11Settings
from enclave.errors import CustodyError

MAX_LABEL_BYTES: Final = 32
"""CKA_LABEL of a token is a 32-byte field; longer labels cannot match."""
MAX_KEY_LABEL_BYTES: Final = 128
MAX_PIN_FILE_BYTES: Final = 1024


@dataclass(frozen=True, slots=True)
class HsmTarget:
    """Which module, token and key hold the wrapping key, and where the PIN is."""

    module: Path
    token_label: str
    key_label: str
    pin_file: Path

    @classmethod
    def from_settings(cls, settings: Pkcs11Settings) -> HsmTarget:
        """Check the settings. Raises CustodyError (step ``hsm.settings``)."""
        step = "hsm.settings"
        if settings.module is None:
            raise CustodyError(step, "TAP_PKCS11_MODULE is required for HSM custody")
        if not settings.module.is_absolute():
            # NOTE: dlopen searches the library path for a relative name, so
            # the module that loads could be one an attacker placed there.
            raise CustodyError(
                step, f"TAP_PKCS11_MODULE must be an absolute path, got {settings.module}"
            )
        token_label = settings.token_label
        if token_label is None:
            raise CustodyError(step, "TAP_PKCS11_TOKEN_LABEL is required for HSM custody")
        if len(token_label.encode()) > MAX_LABEL_BYTES:
            raise CustodyError(
                step,
                f"TAP_PKCS11_TOKEN_LABEL is longer than a token label ({MAX_LABEL_BYTES} bytes)",
            )
        key_label = settings.key_label
        if not key_label or len(key_label.encode()) > MAX_KEY_LABEL_BYTES:
            raise CustodyError(
                step, f"TAP_PKCS11_KEY_LABEL must be 1 to {MAX_KEY_LABEL_BYTES} bytes"
            )
        if settings.pin_file is None:
            raise CustodyError(
                step, "TAP_PKCS11_PIN_FILE is required for HSM custody (the user PIN, in a file)"
            )
        return cls(settings.module, token_label, key_label, settings.pin_file)

    def read_pin(self) -> str:
        """The user PIN from the PIN file. Raises CustodyError (step ``hsm.pin``)."""
        step = "hsm.pin"
        try:
            if self.pin_file.stat().st_size > MAX_PIN_FILE_BYTES:
                raise CustodyError(step, f"{self.pin_file} is too large to be a PIN file")
            text = self.pin_file.read_text()
        except OSError as exc:
            raise CustodyError(
                step, f"cannot read TAP_PKCS11_PIN_FILE {self.pin_file}: {exc.strerror}"
            ) from None
        except UnicodeDecodeError:
            raise CustodyError(step, f"TAP_PKCS11_PIN_FILE {self.pin_file} is not text") from None
        # NOTE: only line endings are trimmed; the message never echoes the PIN.
        pin = text.rstrip("\r\n")
        if not pin:
            raise CustodyError(step, f"TAP_PKCS11_PIN_FILE {self.pin_file} is empty")
        return pin
