"""Every environment variable TAP reads, parsed and validated once at start-up.

``Config.from_env(os.environ)`` returns a frozen :class:`Config` or raises
:class:`~app.errors.ConfigError` naming the variable and what it expected.
Modules receive the ``Config``; nothing else reads the environment.

Example::

    >>> cfg = Config.from_env({"TAP_LISTEN_ADDR": "127.0.0.1:8080"})
    >>> cfg.listen_host, cfg.listen_port
    ('127.0.0.1', 8080)
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from app.errors import ConfigError
from app.secret import Secret

logger = logging.getLogger(__name__)

SECONDS: Final = 1
MIB: Final = 1024 * 1024
KNOWN_FEATURES: Final = frozenset({"enclave"})
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})
_LOG_LEVELS: Final = ("debug", "info", "warning", "error")
_SKR_RELEASE_VIA: Final = ("sidecar", "keyvault")
SERVERS: Final = ("uvicorn", "hypercorn")
"""``TAP_SERVER``: the HTTP servers ``tap-proxy`` can run TAP under (the first is the default)."""

ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class SkrSettings:
    """Where the enclave build asks for its key (``TAP_SKR_*``)."""

    sidecar_url: str = "http://127.0.0.1:8080"
    maa_endpoint: str | None = None
    akv_endpoint: str | None = None
    key_id: str | None = None
    wait_secs: float = 60 * SECONDS
    release_via: str = "sidecar"
    """``sidecar`` (``/key/release``) or ``keyvault`` (Key Vault ``release`` with a managed identity)."""
    client_id: str | None = None
    """Client id of a user-assigned managed identity, for ``release_via=keyvault``."""


# HSM custody (``TAP_PKCS11_*``): the master key is wrapped by a key that stays in an HSM.
_PKCS11_DETAILS: Final = ("TAP_PKCS11_TOKEN_LABEL", "TAP_PKCS11_KEY_LABEL", "TAP_PKCS11_PIN_FILE")
_ENV_KEY_NAMES: Final = ("TAP_ENCRYPTION_KEY", "TAP_ENCRYPTION_KEY_FILE")


@dataclass(frozen=True, slots=True)
class Pkcs11Settings:
    """Where HSM custody finds its wrapping key. ``module`` set selects HSM custody.

    Only parsed here; :mod:`enclave.hsm` checks that the set is complete
    (step ``hsm.settings``), so a half-configured HSM fails like any custody step.
    """

    module: Path | None = None
    """``TAP_PKCS11_MODULE``: the PKCS#11 library (``.so``) of the HSM."""
    token_label: str | None = None
    key_label: str = "tap-kek"
    pin_file: Path | None = None
    """``TAP_PKCS11_PIN_FILE``: the user PIN, read at start-up; never from the environment."""

    @classmethod
    def from_env(
        cls, env: _Reader, *, features: frozenset[str], env_key_set: tuple[bool, bool]
    ) -> Pkcs11Settings:
        """Parse ``TAP_PKCS11_*``. Raises ConfigError for a mode that mixes key sources."""
        module = env.path("TAP_PKCS11_MODULE")
        if module is None:
            for name in _PKCS11_DETAILS:
                if env.text(name) is not None:
                    # NOTE: without this, a forgotten module line would silently
                    # start in env custody.
                    raise ConfigError(
                        "TAP_PKCS11_MODULE", f"is required when {name} is set (HSM custody)"
                    )
            return cls()
        if "enclave" in features:
            raise ConfigError(
                "TAP_PKCS11_MODULE", "HSM custody and TAP_FEATURES=enclave exclude each other"
            )
        for name, is_set in zip(_ENV_KEY_NAMES, env_key_set, strict=True):
            if is_set:
                raise ConfigError(
                    name, "must not be set when TAP_PKCS11_MODULE selects HSM custody"
                )
        return cls(
            module=module,
            token_label=env.text("TAP_PKCS11_TOKEN_LABEL"),
            key_label=env.text("TAP_PKCS11_KEY_LABEL") or "tap-kek",
            pin_file=env.path("TAP_PKCS11_PIN_FILE"),
        )


@dataclass(frozen=True, slots=True)
class Config:
    """TAP's settings. Field names carry units; secrets are :class:`Secret`."""

    # Custody and storage.
    encryption_key: Secret | None = None
    encryption_key_file: Path | None = None
    database_url: Secret | None = None
    """``POSTGRES_DATABASE_URL``; ``None`` starts the embedded Postgres."""
    data_dir: Path = Path("data")
    features: frozenset[str] = frozenset()
    skr: SkrSettings = field(default_factory=SkrSettings)
    tls_cert_file: Path | None = None
    """``TAP_TLS_CERT_FILE``: the certificate the TLS terminator in front of TAP serves.

    In enclave mode the SHA-256 of its public key goes into every attestation,
    so ``tap-attest verify-instance`` can check the key it talked to.
    """
    pkcs11: Pkcs11Settings = field(default_factory=Pkcs11Settings)

    # Serving.
    listen_host: str = "0.0.0.0"  # noqa: S104 - the documented default bind
    listen_port: int = 3100
    workers: int = 1
    server: str = "uvicorn"
    """``TAP_SERVER``: ``uvicorn`` (the default: httptools, the least CPU per request) or ``hypercorn``."""
    public_url: str | None = None
    app_url: str | None = None
    approval_base_url: str | None = None
    build_sha: str = "unknown"
    log_level: str = "info"
    request_read_timeout_secs: int = 30 * SECONDS
    """Longest a client may leave a read waiting, and longest it may take to send a body."""
    keep_alive_timeout_secs: int = 75 * SECONDS
    """Longest a connection may sit without a complete request head: idle between requests,
    or part-way through sending one (so a half-sent request is cut off)."""

    # The proxy.
    forward_timeout_secs: float = 30 * SECONDS
    approval_timeout_secs: int = 3600 * SECONDS
    max_pending_per_agent: int = 100
    max_pending_per_team: int = 1000
    max_pending_bytes_per_team: int = 256 * 1024 * 1024
    """Requests waiting for a decision at once; past a cap parking answers 429."""
    cache_ttl_secs: float = 30 * SECONDS
    audit_log: Path = Path("audit.jsonl")
    audit_spool_max_bytes: int = 256 * MIB
    """Disk kept for audit records while the database is unreachable (under ``data_dir``)."""
    audit_checkpoint_records: int = 1000
    """``TAP_AUDIT_CHECKPOINT_RECORDS``: a team's chain is signed at least every this many records."""
    audit_checkpoint_secs: float = 60 * SECONDS
    """``TAP_AUDIT_CHECKPOINT_SECS``: and at most this long after a record that is not yet signed."""
    audit_checkpoint_log: Path | None = None
    """``TAP_AUDIT_CHECKPOINT_LOG``: an extra append-only file (another volume) for checkpoints."""
    audit_trusted_keys: tuple[bytes, ...] = ()
    """``TAP_AUDIT_TRUSTED_KEYS``: earlier audit public keys (base64) whose checkpoints still verify."""
    allow_private_targets: bool = False
    dev_skip_auth: bool = False

    # Approval channels and email.
    telegram_bot_token: Secret | None = None
    telegram_chat_id: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: Secret | None = None
    telegram_api_url: str = "https://api.telegram.org"
    """``TELEGRAM_API_URL``: the Bot API server (a self-hosted one, or a fake in tests)."""
    matrix_homeserver_url: str | None = None
    matrix_access_token: Secret | None = None
    matrix_room_id: str | None = None
    resend_api_key: Secret | None = None
    resend_from_email: str | None = None
    resend_api_url: str = "https://api.resend.com"
    vapid_private_key: Secret | None = None
    vapid_public_key: str | None = None
    vapid_subject: str = "mailto:approvals@tap.human.tech"
    webauthn_rp_id: str | None = None
    webauthn_rp_origin: str | None = None
    webauthn_additional_origins: tuple[str, ...] = ()

    # Admin sign-in: who the client is, and when the dev login may exist.
    trusted_proxies: tuple[ProxyNetwork, ...] = ()
    """``TAP_TRUSTED_PROXIES``: reverse proxies whose ``X-Forwarded-For`` entries are believed."""
    local_compose: bool = False
    """``TAP_LOCAL_COMPOSE``: set only by ``docker-compose.local.yaml`` (see :func:`check_dev_skip_auth`)."""

    @property
    def enclave(self) -> bool:
        """True when custody must come from Secure Key Release."""
        return "enclave" in self.features

    @property
    def hsm(self) -> bool:
        """True when custody must come from a PKCS#11 HSM."""
        return self.pkcs11.module is not None

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def base_url(self) -> str:
        """The proxy's own public URL, for links in agent-facing texts."""
        return self.public_url or f"http://localhost:{self.listen_port}"

    @property
    def dashboard_url(self) -> str:
        return (self.app_url or self.base_url).rstrip("/")

    @property
    def links_base_url(self) -> str:
        """Base of links a human opens (approve pages, credential links)."""
        return (self.approval_base_url or self.dashboard_url).rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        """Parse ``environ``. Raises :class:`ConfigError` on the first bad value."""
        env = _Reader(environ)
        host, port = env.listen_addr("TAP_LISTEN_ADDR", "0.0.0.0:3100")  # noqa: S104
        features = env.features("TAP_FEATURES")
        encryption_key = env.hex_key("TAP_ENCRYPTION_KEY")
        key_file = env.path("TAP_ENCRYPTION_KEY_FILE")
        if encryption_key is not None and key_file is not None:
            raise ConfigError(
                "TAP_ENCRYPTION_KEY_FILE",
                "set either TAP_ENCRYPTION_KEY or TAP_ENCRYPTION_KEY_FILE, not both",
            )
        if "enclave" in features:
            # NOTE: an enclave build never accepts a key from the environment;
            # the key comes from Secure Key Release or not at all.
            for name, value in (
                ("TAP_ENCRYPTION_KEY", encryption_key),
                ("TAP_ENCRYPTION_KEY_FILE", key_file),
            ):
                if value is not None:
                    raise ConfigError(name, "must not be set when TAP_FEATURES includes enclave")
        vapid_private = env.secret("TAP_VAPID_PRIVATE_KEY")
        vapid_public = env.text("TAP_VAPID_PUBLIC_KEY")
        if (vapid_private is None) != (vapid_public is None):
            raise ConfigError(
                "TAP_VAPID_PRIVATE_KEY",
                "set both TAP_VAPID_PRIVATE_KEY and TAP_VAPID_PUBLIC_KEY, or neither",
            )
        vapid_subject = env.text("TAP_VAPID_SUBJECT") or "mailto:approvals@tap.human.tech"
        if not vapid_subject.startswith(("mailto:", "https://")):
            raise ConfigError("TAP_VAPID_SUBJECT", "expected a mailto: or https: URI")
        matrix_url = env.url("MATRIX_HOMESERVER_URL")
        matrix_token = env.secret("MATRIX_ACCESS_TOKEN")
        if (matrix_url is None) != (matrix_token is None):
            raise ConfigError(
                "MATRIX_ACCESS_TOKEN",
                "set both MATRIX_HOMESERVER_URL and MATRIX_ACCESS_TOKEN, or neither",
            )
        telegram_secret = env.secret("TELEGRAM_WEBHOOK_SECRET")
        telegram_webhook = env.url("TELEGRAM_WEBHOOK_URL")
        if telegram_webhook is not None and telegram_secret is None:
            # NOTE: without the secret anyone who finds the URL could post forged decisions.
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET",
                "required when TELEGRAM_WEBHOOK_URL is set (webhook mode)",
            )
        if telegram_secret is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{16,256}", telegram_secret.reveal()
        ):
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET",
                "expected 16-256 characters of letters, digits, '_' and '-' (what Telegram accepts)",
            )
        rp_id = env.text("WEBAUTHN_RP_ID")
        rp_origin = env.url("WEBAUTHN_RP_ORIGIN")
        if (rp_id is None) != (rp_origin is None):
            raise ConfigError(
                "WEBAUTHN_RP_ORIGIN", "set both WEBAUTHN_RP_ID and WEBAUTHN_RP_ORIGIN, or neither"
            )
        database_url = env.database_url("POSTGRES_DATABASE_URL")
        config = cls(
            encryption_key=encryption_key,
            encryption_key_file=key_file,
            database_url=database_url,
            data_dir=env.path("TAP_DATA_DIR") or Path("data"),
            features=features,
            tls_cert_file=env.path("TAP_TLS_CERT_FILE"),
            skr=SkrSettings(
                sidecar_url=env.url("TAP_SKR_SIDECAR_URL") or "http://127.0.0.1:8080",
                maa_endpoint=env.url("TAP_SKR_MAA_ENDPOINT"),
                akv_endpoint=env.url("TAP_SKR_AKV_ENDPOINT"),
                key_id=env.url("TAP_SKR_KEY_ID"),
                wait_secs=env.number("TAP_SKR_WAIT_SECS", 60, minimum=1, maximum=3600),
                release_via=env.choice("TAP_SKR_RELEASE_VIA", _SKR_RELEASE_VIA, "sidecar"),
                client_id=env.text("TAP_SKR_CLIENT_ID"),
            ),
            pkcs11=Pkcs11Settings.from_env(
                env,
                features=features,
                env_key_set=(encryption_key is not None, key_file is not None),
            ),
            listen_host=host,
            listen_port=port,
            workers=int(
                env.number("TAP_WORKERS", os.cpu_count() or 1, minimum=1, maximum=64, integer=True)
            ),
            server=env.choice("TAP_SERVER", SERVERS, SERVERS[0]),
            public_url=env.url("TAP_PUBLIC_URL"),
            app_url=env.url("TAP_APP_URL"),
            approval_base_url=env.url("TAP_APPROVAL_BASE_URL"),
            build_sha=env.text("TAP_BUILD_SHA") or "unknown",
            log_level=env.choice("TAP_LOG_LEVEL", _LOG_LEVELS, "info"),
            request_read_timeout_secs=int(
                env.number(
                    "TAP_REQUEST_READ_TIMEOUT_SECS", 30, minimum=1, maximum=3600, integer=True
                )
            ),
            keep_alive_timeout_secs=int(
                env.number("TAP_KEEP_ALIVE_TIMEOUT_SECS", 75, minimum=1, maximum=3600, integer=True)
            ),
            forward_timeout_secs=env.number(
                "TAP_FORWARD_TIMEOUT_SECS", 30, minimum=1, maximum=3600
            ),
            approval_timeout_secs=int(
                env.number(
                    "TAP_APPROVAL_TIMEOUT_SECS", 3600, minimum=1, maximum=7 * 86400, integer=True
                )
            ),
            max_pending_per_agent=int(
                env.number("TAP_MAX_PENDING_PER_AGENT", 100, minimum=1, maximum=10**6, integer=True)
            ),
            max_pending_per_team=int(
                env.number("TAP_MAX_PENDING_PER_TEAM", 1000, minimum=1, maximum=10**7, integer=True)
            ),
            max_pending_bytes_per_team=int(
                env.number(
                    "TAP_MAX_PENDING_BYTES_PER_TEAM",
                    256 * 1024 * 1024,
                    minimum=0,
                    maximum=2**40,
                    integer=True,
                )
            ),
            cache_ttl_secs=env.number("TAP_CACHE_TTL_SECS", 30, minimum=0, maximum=86400),
            audit_log=env.path("TAP_AUDIT_LOG") or Path("audit.jsonl"),
            audit_spool_max_bytes=int(
                env.number(
                    "TAP_AUDIT_SPOOL_MAX_BYTES", 256 * MIB, minimum=0, maximum=2**50, integer=True
                )
            ),
            audit_checkpoint_records=int(
                env.number(
                    "TAP_AUDIT_CHECKPOINT_RECORDS", 1000, minimum=1, maximum=10**7, integer=True
                )
            ),
            audit_checkpoint_secs=env.number(
                "TAP_AUDIT_CHECKPOINT_SECS", 60, minimum=0.1, maximum=86400
            ),
            audit_checkpoint_log=env.path("TAP_AUDIT_CHECKPOINT_LOG"),
            audit_trusted_keys=env.public_keys("TAP_AUDIT_TRUSTED_KEYS"),
            allow_private_targets=env.flag("DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS"),
            dev_skip_auth=env.flag("DANGEROUS_TAP_DEV_SKIP_AUTH"),
            telegram_bot_token=env.secret("TELEGRAM_BOT_TOKEN"),
            telegram_chat_id=env.text("TELEGRAM_CHAT_ID"),
            telegram_webhook_url=telegram_webhook,
            telegram_webhook_secret=telegram_secret,
            telegram_api_url=env.url("TELEGRAM_API_URL") or "https://api.telegram.org",
            matrix_homeserver_url=matrix_url,
            matrix_access_token=matrix_token,
            matrix_room_id=env.text("MATRIX_ROOM_ID"),
            resend_api_key=env.secret("RESEND_API_KEY"),
            resend_from_email=env.text("RESEND_FROM_EMAIL"),
            resend_api_url=env.url("TAP_RESEND_API_URL") or "https://api.resend.com",
            vapid_private_key=vapid_private,
            vapid_public_key=vapid_public,
            vapid_subject=vapid_subject,
            webauthn_rp_id=rp_id,
            webauthn_rp_origin=rp_origin,
            webauthn_additional_origins=env.url_list("WEBAUTHN_ADDITIONAL_ORIGINS"),
            trusted_proxies=env.networks("TAP_TRUSTED_PROXIES"),
            local_compose=env.flag("TAP_LOCAL_COMPOSE"),
        )
        check_dev_skip_auth(config)
        return config

    def log_warnings(self) -> None:
        """Say loudly, on every start, which safety switches are off."""
        if self.allow_private_targets:
            logger.warning(
                "DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS is set: the SSRF guard is OFF and agents can "
                "reach loopback, private and cloud-metadata addresses. Use this for local testing only."
            )
        if self.enclave and self.build_sha == "unknown":
            logger.warning(
                "TAP_BUILD_SHA is not set: /health reports sha 'unknown', so clients cannot match this "
                "instance to the measurement log. The image build bakes it in."
            )
        if self.enclave and self.tls_cert_file is None:
            logger.warning(
                "TAP_TLS_CERT_FILE is not set: /attestation answers 503, because an attestation "
                "must name the TLS key clients talk to. Point it at the certificate TLS is served with."
            )
        if self.dev_skip_auth:
            logger.warning(
                "DANGEROUS_TAP_DEV_SKIP_AUTH is set: the admin API accepts requests without a session. "
                "Never use this outside local development."
            )


class _Reader:
    """Typed accessors over an environment mapping; each raises ConfigError."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._env = environ

    def text(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def secret(self, name: str) -> Secret | None:
        value = self.text(name)
        return Secret(value) if value is not None else None

    def flag(self, name: str) -> bool:
        value = self._env.get(name, "").strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigError(name, "expected true or false (1/0, yes/no)")

    def number(
        self, name: str, default: float, *, minimum: float, maximum: float, integer: bool = False
    ) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(int(raw)) if integer else float(raw)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise ConfigError(name, f"expected {kind}, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(
                name, f"expected a value from {minimum:g} to {maximum:g}, got {raw!r}"
            )
        return value

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        raw = (self.text(name) or default).lower()
        if raw not in options:
            raise ConfigError(name, f"expected one of {', '.join(options)}, got {raw!r}")
        return raw

    def public_keys(self, name: str) -> tuple[bytes, ...]:
        """Comma-separated base64 Ed25519 public keys (32 bytes each)."""
        keys = []
        for part in (self.text(name) or "").split(","):
            if not part.strip():
                continue
            try:
                key = base64.b64decode(part.strip(), validate=True)
            except ValueError:
                raise ConfigError(name, "expected comma-separated base64 public keys") from None
            if len(key) != 32:
                raise ConfigError(name, "each public key must be 32 bytes (Ed25519)")
            keys.append(key)
        return tuple(keys)

    def path(self, name: str) -> Path | None:
        raw = self.text(name)
        return Path(raw) if raw is not None else None

    def url(self, name: str) -> str | None:
        raw = self.text(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(name, "expected an http(s) URL with a host")
        return raw.rstrip("/")

    def url_list(self, name: str) -> tuple[str, ...]:
        raw = self.text(name)
        if raw is None:
            return ()
        items = tuple(item.strip().rstrip("/") for item in raw.split(",") if item.strip())
        for item in items:
            parts = urlsplit(item)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(name, f"expected comma-separated http(s) origins, got {item!r}")
        return items

    def networks(self, name: str) -> tuple[ProxyNetwork, ...]:
        raw = self.text(name)
        if raw is None:
            return ()
        parsed: list[ProxyNetwork] = []
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            try:
                parsed.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(
                    name, f"expected comma-separated IP addresses or CIDRs, got {item!r}"
                ) from None
        return tuple(parsed)

    def hex_key(self, name: str) -> Secret | None:
        raw = self.text(name)
        if raw is None:
            return None
        # NOTE: the message never echoes the value; it may be a real key.
        if len(raw) != 64:
            raise ConfigError(
                name, f"expected 64 hex characters (32 bytes), got {len(raw)} characters"
            )
        try:
            bytes.fromhex(raw)
        except ValueError:
            raise ConfigError(
                name, "expected 64 hex characters (32 bytes); it contains non-hex characters"
            ) from None
        return Secret(raw.lower())

    def database_url(self, name: str) -> Secret | None:
        raw = self.text(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in ("postgres", "postgresql"):
            # NOTE: the URL may hold a password, so only the scheme is echoed.
            raise ConfigError(
                name, f"expected a postgres:// or postgresql:// URL, got scheme {parts.scheme!r}"
            )
        return Secret(raw)

    def features(self, name: str) -> frozenset[str]:
        raw = self.text(name) or ""
        features = frozenset(f.strip().lower() for f in raw.split(",") if f.strip())
        unknown = sorted(features - KNOWN_FEATURES)
        if unknown:
            raise ConfigError(
                name, f"unknown feature {unknown[0]!r}; known: {', '.join(sorted(KNOWN_FEATURES))}"
            )
        return features

    def listen_addr(self, name: str, default: str) -> tuple[str, int]:
        raw = self.text(name) or default
        host, sep, port_text = raw.rpartition(":")
        if not sep or not host:
            raise ConfigError(name, f"expected HOST:PORT, got {raw!r}")
        host = host.removeprefix("[").removesuffix("]")
        try:
            port = int(port_text)
        except ValueError:
            raise ConfigError(name, f"expected a numeric port, got {port_text!r}") from None
        if not 0 <= port <= 65535:
            raise ConfigError(name, f"port {port} is out of range")
        return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_is_loopback(url: str) -> bool:
    return _is_loopback(urlsplit(url).hostname or "")


def check_dev_skip_auth(config: Config) -> None:
    """Refuse ``DANGEROUS_TAP_DEV_SKIP_AUTH`` anywhere but a developer's own machine.

    The rule, all of which must hold:

    1. every URL people or agents use to reach this TAP (``TAP_PUBLIC_URL``,
       ``TAP_APP_URL``, ``TAP_APPROVAL_BASE_URL``, ``WEBAUTHN_RP_ORIGIN``), if
       set, names a loopback host;
    2. the listen address is loopback, or ``TAP_LOCAL_COMPOSE`` is true. Only
       ``docker-compose.local.yaml`` sets that marker (it publishes the port on
       127.0.0.1 alone); ``docker-compose.yaml`` pins it to false in its
       ``environment``, which compose applies over anything in ``.env``, so a
       production deployment cannot carry it.

    NOTE: the database is no evidence either way: a production host may use
    the embedded Postgres and a laptop a remote one. Raises ConfigError.
    """
    if not config.dev_skip_auth:
        return
    for name, url in (
        ("TAP_PUBLIC_URL", config.public_url),
        ("TAP_APP_URL", config.app_url),
        ("TAP_APPROVAL_BASE_URL", config.approval_base_url),
        ("WEBAUTHN_RP_ORIGIN", config.webauthn_rp_origin),
    ):
        if url is not None and not _url_is_loopback(url):
            raise ConfigError(
                "DANGEROUS_TAP_DEV_SKIP_AUTH",
                f"refused: {name} names a non-loopback host, so this TAP is reachable by others",
            )
    if not (_is_loopback(config.listen_host) or config.local_compose):
        raise ConfigError(
            "DANGEROUS_TAP_DEV_SKIP_AUTH",
            "refused: allowed only on a loopback listen address or in docker-compose.local.yaml",
        )
