"""What the enclave build releases, parsed once from the ``TAP_SKR_*`` settings.

Example::

    TAP_SKR_MAA_ENDPOINT=https://sharedeus.eus.attest.azure.net
    TAP_SKR_AKV_ENDPOINT=https://tap-kv.vault.azure.net
    TAP_SKR_KEY_ID=https://tap-kv.vault.azure.net/keys/tap-kek/0123456789abcdef0123456789abcdef

gives ``SkrTarget(maa_host="sharedeus.eus.attest.azure.net",
akv_host="tap-kv.vault.azure.net", key_name="tap-kek", key_version="0123...")``.

NOTE: the key id must name a version. Without one, Key Vault releases the
newest version, and after a rotation the stored wrap would no longer open; a
pinned version makes the KEK in use an explicit, reviewable setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from enclave._provider import SkrSettings
from enclave.errors import CustodyError

STEP: Final = "skr.settings"
MAX_WAIT_SECS: Final = 3600.0

_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
_VERSION = re.compile(r"[0-9A-Za-z]{1,64}")
_HOST = re.compile(r"[0-9a-z](?:[0-9a-z.-]*[0-9a-z])?(?::[0-9]{1,5})?")


def _host(setting: str, value: str | None) -> str:
    if value is None:
        raise CustodyError(STEP, f"{setting} is required with the enclave feature")
    raw = value.strip().rstrip("/")
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    # NOTE: https only: the sidecar talks TLS to these hosts, and a plain-http
    # setting is a mistake we would rather refuse than pass on.
    if parts.scheme != "https" or parts.path or parts.query or parts.fragment or parts.username:
        raise CustodyError(
            STEP, f"{setting} must be an https origin such as https://<name>.vault.azure.net"
        )
    host = parts.netloc.lower()
    if _HOST.fullmatch(host) is None:
        raise CustodyError(STEP, f"{setting} has an invalid host name")
    return host


@dataclass(frozen=True, slots=True)
class SkrTarget:
    """A validated release target: attestation host, vault host, versioned key."""

    sidecar_url: str
    maa_host: str
    akv_host: str
    key_name: str
    key_version: str
    wait_secs: float

    def __post_init__(self) -> None:
        if _NAME.fullmatch(self.key_name) is None or _VERSION.fullmatch(self.key_version) is None:
            raise CustodyError(STEP, "the key name or version is malformed")
        if not 0 < self.wait_secs <= MAX_WAIT_SECS:
            raise CustodyError(STEP, f"TAP_SKR_WAIT_SECS must be in (0, {MAX_WAIT_SECS:g}]")
        parts = urlsplit(self.sidecar_url)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            # The sidecar shares the container group's network namespace and
            # listens on loopback only; anything else is not the sidecar.
            raise CustodyError(
                STEP, "TAP_SKR_SIDECAR_URL must be http://127.0.0.1:<port> (the local sidecar)"
            )

    @property
    def kid(self) -> str:
        """The full key identifier, as Key Vault writes it."""
        return f"https://{self.akv_host}/keys/{self.key_name}/{self.key_version}"

    @property
    def sidecar_kid(self) -> str:
        """What the sidecar's ``kid`` field takes: ``name/version``."""
        return f"{self.key_name}/{self.key_version}"

    @classmethod
    def from_settings(cls, settings: SkrSettings) -> SkrTarget:
        """Validate ``settings``. Raises CustodyError (step ``skr.settings``)."""
        maa_host = _host("TAP_SKR_MAA_ENDPOINT", settings.maa_endpoint)
        akv_host = _host("TAP_SKR_AKV_ENDPOINT", settings.akv_endpoint)
        if settings.key_id is None:
            raise CustodyError(STEP, "TAP_SKR_KEY_ID is required with the enclave feature")
        name, version = parse_key_id(settings.key_id, akv_host=akv_host)
        return cls(
            sidecar_url=settings.sidecar_url.rstrip("/"),
            maa_host=maa_host,
            akv_host=akv_host,
            key_name=name,
            key_version=version,
            wait_secs=settings.wait_secs,
        )


def parse_key_id(key_id: str, *, akv_host: str) -> tuple[str, str]:
    """Split ``https://<vault>/keys/<name>/<version>`` into name and version.

    Raises CustodyError unless the id is on ``akv_host`` and names a version.
    """
    parts = urlsplit(key_id.strip())
    segments = parts.path.strip("/").split("/")
    if parts.scheme != "https" or parts.query or parts.fragment:
        raise CustodyError(STEP, "TAP_SKR_KEY_ID must be https://<vault>/keys/<name>/<version>")
    if parts.netloc.lower() != akv_host:
        raise CustodyError(STEP, f"TAP_SKR_KEY_ID is not on TAP_SKR_AKV_ENDPOINT ({akv_host})")
    if len(segments) != 3 or segments[0] != "keys" or not segments[2]:
        raise CustodyError(
            STEP, "TAP_SKR_KEY_ID must name a key version: https://<vault>/keys/<name>/<version>"
        )
    if _NAME.fullmatch(segments[1]) is None or _VERSION.fullmatch(segments[2]) is None:
        raise CustodyError(STEP, "TAP_SKR_KEY_ID has a malformed key name or version")
    return segments[1], segments[2]
