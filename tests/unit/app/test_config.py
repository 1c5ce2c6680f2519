from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from app.config import Config
from app.errors import ConfigError

KEY = "ab" * 32


def test_defaults_match_the_product_brief() -> None:
    config = Config.from_env({})
    assert (config.listen_host, config.listen_port) == ("0.0.0.0", 3100)
    assert config.forward_timeout_secs == 30
    assert config.approval_timeout_secs == 3600
    assert config.cache_ttl_secs == 30
    assert config.audit_log == Path("audit.jsonl")
    assert config.data_dir == Path("data")
    assert config.vapid_subject == "mailto:approvals@tap.human.tech"
    assert config.embedded_database and not config.enclave
    assert not config.allow_private_targets and not config.dev_skip_auth
    assert config.server == "uvicorn"


def test_values_are_parsed() -> None:
    config = Config.from_env(
        {
            "POSTGRES_DATABASE_URL": "postgres://tap:tap@localhost:5434/tap",
            "TAP_LISTEN_ADDR": "[::1]:8080",
            "TAP_FORWARD_TIMEOUT_SECS": "2.5",
            "TAP_CACHE_TTL_SECS": "0",
            "TAP_FEATURES": " Enclave ",
            "WEBAUTHN_RP_ID": "localhost",
            "WEBAUTHN_RP_ORIGIN": "http://localhost:3100/",
            "WEBAUTHN_ADDITIONAL_ORIGINS": "https://a.example, https://b.example",
            "DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS": "TRUE",
            "TAP_SERVER": "Hypercorn",
        }
    )
    assert (config.listen_host, config.listen_port) == ("::1", 8080)
    assert config.forward_timeout_secs == 2.5
    assert config.cache_ttl_secs == 0
    assert config.enclave
    assert config.webauthn_rp_origin == "http://localhost:3100"
    assert config.webauthn_additional_origins == ("https://a.example", "https://b.example")
    assert config.allow_private_targets
    assert not config.embedded_database
    assert config.server == "hypercorn"


def test_audit_checkpoint_settings() -> None:
    assert Config.from_env({}).audit_checkpoint_records == 1000
    assert Config.from_env({}).audit_checkpoint_secs == 60
    key = bytes(range(32))
    config = Config.from_env(
        {
            "TAP_AUDIT_TRUSTED_KEYS": f" {base64.b64encode(key).decode()} ,",
            "TAP_AUDIT_CHECKPOINT_LOG": "/mnt/ship/checkpoints.jsonl",
        }
    )
    assert config.audit_trusted_keys == (key,)
    assert config.audit_checkpoint_log == Path("/mnt/ship/checkpoints.jsonl")


def test_key_is_normalised_and_masked() -> None:
    config = Config.from_env({"TAP_ENCRYPTION_KEY": KEY.upper()})
    assert config.encryption_key is not None and config.encryption_key.reveal() == KEY
    assert KEY not in repr(config) and KEY not in str(config)


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        # Keys: length, alphabet, and both sources at once.
        ({"TAP_ENCRYPTION_KEY": "abc"}, "TAP_ENCRYPTION_KEY", "64 hex"),
        ({"TAP_ENCRYPTION_KEY": "zz" * 32}, "TAP_ENCRYPTION_KEY", "non-hex"),
        (
            {"TAP_ENCRYPTION_KEY": KEY, "TAP_ENCRYPTION_KEY_FILE": "/k"},
            "TAP_ENCRYPTION_KEY_FILE",
            "not both",
        ),
        # Enclave builds never take a key from the environment.
        ({"TAP_FEATURES": "enclave", "TAP_ENCRYPTION_KEY": KEY}, "TAP_ENCRYPTION_KEY", "enclave"),
        (
            {"TAP_FEATURES": "enclave", "TAP_ENCRYPTION_KEY_FILE": "/k"},
            "TAP_ENCRYPTION_KEY_FILE",
            "enclave",
        ),
        ({"TAP_FEATURES": "turbo"}, "TAP_FEATURES", "unknown feature"),
        # Numbers and ranges.
        ({"TAP_FORWARD_TIMEOUT_SECS": "soon"}, "TAP_FORWARD_TIMEOUT_SECS", "number"),
        ({"TAP_FORWARD_TIMEOUT_SECS": "0"}, "TAP_FORWARD_TIMEOUT_SECS", "from 1"),
        ({"TAP_APPROVAL_TIMEOUT_SECS": "1.5"}, "TAP_APPROVAL_TIMEOUT_SECS", "whole number"),
        ({"TAP_CACHE_TTL_SECS": "-1"}, "TAP_CACHE_TTL_SECS", "from 0"),
        ({"TAP_WORKERS": "0"}, "TAP_WORKERS", "from 1"),
        # Addresses and URLs.
        ({"TAP_LISTEN_ADDR": "3100"}, "TAP_LISTEN_ADDR", "HOST:PORT"),
        ({"TAP_LISTEN_ADDR": "0.0.0.0:http"}, "TAP_LISTEN_ADDR", "numeric port"),
        ({"TAP_LISTEN_ADDR": "0.0.0.0:70000"}, "TAP_LISTEN_ADDR", "out of range"),
        (
            {"POSTGRES_DATABASE_URL": "mysql://x:secretpw@h/db"},
            "POSTGRES_DATABASE_URL",
            "postgres://",
        ),
        ({"TAP_PUBLIC_URL": "ftp://x"}, "TAP_PUBLIC_URL", "http(s) URL"),
        (
            {"WEBAUTHN_ADDITIONAL_ORIGINS": "https://ok, nope"},
            "WEBAUTHN_ADDITIONAL_ORIGINS",
            "nope",
        ),
        # Pairs that only work together.
        ({"TAP_VAPID_PRIVATE_KEY": "x"}, "TAP_VAPID_PRIVATE_KEY", "both"),
        ({"TAP_VAPID_SUBJECT": "approvals@example.com"}, "TAP_VAPID_SUBJECT", "mailto:"),
        ({"MATRIX_HOMESERVER_URL": "https://m.example"}, "MATRIX_ACCESS_TOKEN", "both"),
        ({"WEBAUTHN_RP_ID": "localhost"}, "WEBAUTHN_RP_ORIGIN", "both"),
        # Flags are strict.
        (
            {"DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS": "maybe"},
            "DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS",
            "true or false",
        ),
        ({"TAP_LOG_LEVEL": "loud"}, "TAP_LOG_LEVEL", "one of"),
        ({"TAP_SERVER": "granian"}, "TAP_SERVER", "one of uvicorn, hypercorn"),
        # The dev switch refuses a public bind, whatever the database.
        (
            {
                "DANGEROUS_TAP_DEV_SKIP_AUTH": "true",
                "TAP_LISTEN_ADDR": "0.0.0.0:3100",
                "POSTGRES_DATABASE_URL": "postgres://u@db.example.com/tap",
            },
            "DANGEROUS_TAP_DEV_SKIP_AUTH",
            "loopback",
        ),
        # An embedded database is no evidence of a laptop.
        ({"DANGEROUS_TAP_DEV_SKIP_AUTH": "true"}, "DANGEROUS_TAP_DEV_SKIP_AUTH", "loopback"),
        (
            {
                "DANGEROUS_TAP_DEV_SKIP_AUTH": "true",
                "POSTGRES_DATABASE_URL": "postgres://tap:tap@postgres:5432/tap",
            },
            "DANGEROUS_TAP_DEV_SKIP_AUTH",
            "loopback",
        ),
        # A public URL naming another host means others reach this TAP.
        (
            {
                "DANGEROUS_TAP_DEV_SKIP_AUTH": "true",
                "TAP_LISTEN_ADDR": "127.0.0.1:3100",
                "TAP_PUBLIC_URL": "https://tap.example.com",
            },
            "DANGEROUS_TAP_DEV_SKIP_AUTH",
            "TAP_PUBLIC_URL",
        ),
        (
            {
                "DANGEROUS_TAP_DEV_SKIP_AUTH": "true",
                "TAP_LOCAL_COMPOSE": "true",
                "TAP_APP_URL": "https://app.example.com",
            },
            "DANGEROUS_TAP_DEV_SKIP_AUTH",
            "TAP_APP_URL",
        ),
        # Trusted proxies are addresses or networks.
        ({"TAP_TRUSTED_PROXIES": "nginx"}, "TAP_TRUSTED_PROXIES", "CIDRs"),
        # Audit keys are base64 Ed25519 public keys; checkpoints need a positive rhythm.
        ({"TAP_AUDIT_TRUSTED_KEYS": "not-base64!"}, "TAP_AUDIT_TRUSTED_KEYS", "base64"),
        ({"TAP_AUDIT_TRUSTED_KEYS": "AAAA"}, "TAP_AUDIT_TRUSTED_KEYS", "32 bytes"),
        ({"TAP_AUDIT_CHECKPOINT_RECORDS": "0"}, "TAP_AUDIT_CHECKPOINT_RECORDS", "from 1"),
        ({"TAP_AUDIT_CHECKPOINT_SECS": "0"}, "TAP_AUDIT_CHECKPOINT_SECS", "from 0.1"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env(env)
    assert info.value.variable == variable
    assert fragment in str(info.value)


def test_error_never_echoes_a_secret() -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env({"POSTGRES_DATABASE_URL": "mysql://x:secretpw@h/db"})
    assert "secretpw" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        Config.from_env({"TAP_ENCRYPTION_KEY": "S3CRET" * 10})
    assert "S3CRET" not in str(info.value)


@pytest.mark.parametrize(
    "env",
    [
        {"DANGEROUS_TAP_DEV_SKIP_AUTH": "1", "TAP_LISTEN_ADDR": "127.0.0.1:3100"},
        {"DANGEROUS_TAP_DEV_SKIP_AUTH": "1", "TAP_LISTEN_ADDR": "[::1]:3100"},
        {
            "DANGEROUS_TAP_DEV_SKIP_AUTH": "1",
            "TAP_LISTEN_ADDR": "127.0.0.1:3100",
            "TAP_PUBLIC_URL": "http://localhost:3100",
        },
        {
            "DANGEROUS_TAP_DEV_SKIP_AUTH": "1",
            "TAP_LOCAL_COMPOSE": "true",
            "POSTGRES_DATABASE_URL": "postgres://tap:tap@postgres:5432/tap",
        },
    ],
)
def test_dev_skip_auth_allowed_locally(env: dict[str, str]) -> None:
    assert Config.from_env(env).dev_skip_auth


def test_private_targets_warning_is_loud(caplog: pytest.LogCaptureFixture) -> None:
    Config.from_env({"DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS": "1"}).log_warnings()
    assert "SSRF guard is OFF" in caplog.text


def test_skr_release_path_defaults_to_the_sidecar() -> None:
    skr = Config.from_env({}).skr
    assert skr.release_via == "sidecar"
    assert skr.client_id is None


def test_skr_release_via_key_vault_with_a_user_assigned_identity() -> None:
    skr = Config.from_env(
        {
            "TAP_SKR_RELEASE_VIA": "KeyVault",
            "TAP_SKR_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
        }
    ).skr
    assert skr.release_via == "keyvault"
    assert skr.client_id == "11111111-2222-3333-4444-555555555555"


def test_skr_release_via_unknown_value_is_refused() -> None:
    with pytest.raises(ConfigError, match="TAP_SKR_RELEASE_VIA"):
        Config.from_env({"TAP_SKR_RELEASE_VIA": "imds"})


def test_enclave_without_build_sha_warns(caplog: pytest.LogCaptureFixture) -> None:
    Config.from_env({"TAP_FEATURES": "enclave"}).log_warnings()
    assert "TAP_BUILD_SHA is not set" in caplog.text


def test_trusted_proxies_are_parsed_once() -> None:
    config = Config.from_env({"TAP_TRUSTED_PROXIES": "172.31.250.10, 10.0.0.0/8,2001:db8::/32"})
    assert [str(n) for n in config.trusted_proxies] == [
        "172.31.250.10/32",
        "10.0.0.0/8",
        "2001:db8::/32",
    ]
    assert Config.from_env({}).trusted_proxies == ()


# -- the dev login under each compose file -------------------------------------------

REPO = Path(__file__).resolve().parents[3]


def _env_file(name: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (REPO / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _compose_env(dotenv: dict[str, str], *files: str) -> dict[str, str]:
    """The proxy container's environment: ``.env`` first, each file's ``environment`` over it (as compose does)."""
    env = dict(dotenv)
    for name in files:
        service = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))["services"]["proxy"]
        env.update({k: str(v) for k, v in (service.get("environment") or {}).items()})
    return env


def _dotenv(**extra: str) -> dict[str, str]:
    return {**_env_file("local.env.example"), "TAP_ENCRYPTION_KEY": "ab" * 32, **extra}


def test_local_compose_allows_the_dev_login() -> None:
    env = _compose_env(_dotenv(), "docker-compose.yaml", "docker-compose.local.yaml")
    assert env["DANGEROUS_TAP_DEV_SKIP_AUTH"] == "true"
    assert Config.from_env(env).dev_skip_auth


@pytest.mark.parametrize(
    "dotenv",
    [
        # An operator copies the local switch into production's .env...
        _dotenv(DANGEROUS_TAP_DEV_SKIP_AUTH="true"),
        # ...even with the local marker, which the production file pins to false.
        _dotenv(DANGEROUS_TAP_DEV_SKIP_AUTH="true", TAP_LOCAL_COMPOSE="true"),
        # ...with an external database, the old loophole.
        _dotenv(
            DANGEROUS_TAP_DEV_SKIP_AUTH="true",
            POSTGRES_DATABASE_URL="postgres://tap:tap@postgres:5432/tap",
        ),
    ],
)
def test_production_compose_refuses_the_dev_login(dotenv: dict[str, str]) -> None:
    env = _compose_env(dotenv, "docker-compose.yaml")
    with pytest.raises(ConfigError) as info:
        Config.from_env(env)
    assert info.value.variable == "DANGEROUS_TAP_DEV_SKIP_AUTH"


def test_local_compose_with_a_public_url_refuses_the_dev_login() -> None:
    dotenv = _dotenv(TAP_PUBLIC_URL="https://tap.example.com")
    env = _compose_env(dotenv, "docker-compose.yaml", "docker-compose.local.yaml")
    with pytest.raises(ConfigError):
        Config.from_env(env)


def test_production_compose_trusts_only_its_nginx() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text(encoding="utf-8"))
    nginx_ip = compose["services"]["nginx"]["networks"]["tap"]["ipv4_address"]
    config = Config.from_env(_compose_env(_dotenv(), "docker-compose.yaml"))
    assert [str(n) for n in config.trusted_proxies] == [f"{nginx_ip}/32"]
