"""The default key provider: the master key comes from the environment.

``TAP_ENCRYPTION_KEY`` (64 hex characters) or ``TAP_ENCRYPTION_KEY_FILE`` (a
file holding them). For ``make run`` only, when neither is set and the embedded
database is in use, a key is generated once into ``$TAP_DATA_DIR/encryption.key``
with mode 0600, and a warning says this is for local use. One log line says
which of these the key came from, so an operator can tell a generated key
from a configured one.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Final

from enclave._provider import CustodySettings, Revealable, WrappedKeyStore
from enclave.errors import CustodyError, KeyFileError

logger = logging.getLogger(__name__)

GENERATED_KEY_NAME: Final = "encryption.key"


class EnvKeyProvider:
    """Reads the master key from a hex string or a key file."""

    name = "env"

    def __init__(
        self, *, key: Revealable | None, key_file: Path | None, generate_into: Path | None = None
    ) -> None:
        self._key = key
        self._key_file = key_file
        self._generate_into = generate_into

    @classmethod
    def from_settings(cls, settings: CustodySettings) -> EnvKeyProvider:
        generate_into = None
        if (
            settings.encryption_key is None
            and settings.encryption_key_file is None
            and settings.embedded_database
        ):
            generate_into = settings.data_dir / GENERATED_KEY_NAME
        return cls(
            key=settings.encryption_key,
            key_file=settings.encryption_key_file,
            generate_into=generate_into,
        )

    async def master_key(self, store: WrappedKeyStore) -> bytes:
        return self.load()

    def load(self) -> bytes:
        """Return the key. Raises CustodyError when none is configured or it is malformed."""
        if self._key is not None:
            key = _parse_hex(self._key.reveal(), source="TAP_ENCRYPTION_KEY")
            logger.info("encryption key: from the environment (TAP_ENCRYPTION_KEY)")
            return key
        if self._key_file is not None:
            key = read_key_file(self._key_file)
            logger.info(
                "encryption key: from the file %s (TAP_ENCRYPTION_KEY_FILE)", self._key_file
            )
            return key
        if self._generate_into is not None:
            return _load_or_generate(self._generate_into)
        raise CustodyError(
            "env",
            "no encryption key: set TAP_ENCRYPTION_KEY (generate one with `openssl rand -hex 32`) "
            "or TAP_ENCRYPTION_KEY_FILE",
        )


def read_key_file(path: Path) -> bytes:
    """Read 64 hex characters from ``path``. Raises KeyFileError."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeyFileError(
            "env", f"cannot read TAP_ENCRYPTION_KEY_FILE {path}: {exc.strerror}"
        ) from None
    return _parse_hex(text.strip(), source=f"key file {path}")


def _parse_hex(text: str, *, source: str) -> bytes:
    # NOTE: never echo the text; it is (almost) a key.
    if len(text) != 64:
        raise KeyFileError(
            "env", f"{source} must be 64 hex characters (32 bytes), got {len(text)} characters"
        )
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(
            "env", f"{source} must be 64 hex characters; it contains non-hex characters"
        ) from None


def _load_or_generate(path: Path) -> bytes:
    if path.exists():
        return _read_generated(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        # O_EXCL: two processes starting together cannot both write a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_generated(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    logger.warning(
        "No TAP_ENCRYPTION_KEY set: generated a local key in %s (mode 0600). This is for local "
        "use only; in production set TAP_ENCRYPTION_KEY from a secrets manager.",
        path,
    )
    return key


def _read_generated(path: Path) -> bytes:
    key = read_key_file(path)
    logger.info(
        "encryption key: from the local key file %s, generated on an earlier start "
        "(no TAP_ENCRYPTION_KEY set)",
        path,
    )
    return key
