"""The compose files, nginx.conf and local.env.example agree with each other
and with the environment variables TAP documents."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]

#: Every variable an operator may set (the product's documented list).
DOCUMENTED_ENV = frozenset(
    [
        "TAP_ENCRYPTION_KEY",
        "TAP_ENCRYPTION_KEY_FILE",
        "POSTGRES_DATABASE_URL",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_CHAT_ID",
        "TELEGRAM_WEBHOOK_URL",
        "TELEGRAM_WEBHOOK_SECRET",
        "MATRIX_HOMESERVER_URL",
        "MATRIX_ACCESS_TOKEN",
        "MATRIX_ROOM_ID",
        "TAP_LISTEN_ADDR",
        "TAP_FORWARD_TIMEOUT_SECS",
        "TAP_APPROVAL_TIMEOUT_SECS",
        "TAP_CACHE_TTL_SECS",
        "TAP_AUDIT_LOG",
        "TAP_AUDIT_SPOOL_MAX_BYTES",
        "TAP_AUDIT_CHECKPOINT_RECORDS",
        "TAP_AUDIT_CHECKPOINT_SECS",
        "TAP_AUDIT_CHECKPOINT_LOG",
        "TAP_AUDIT_TRUSTED_KEYS",
        "TAP_TLS_CERT_FILE",
        "TAP_DATA_DIR",
        "TAP_PUBLIC_URL",
        "TAP_FEATURES",
        "RESEND_API_KEY",
        "RESEND_FROM_EMAIL",
        "TAP_VAPID_PRIVATE_KEY",
        "TAP_VAPID_PUBLIC_KEY",
        "TAP_VAPID_SUBJECT",
        "WEBAUTHN_RP_ID",
        "WEBAUTHN_RP_ORIGIN",
        "WEBAUTHN_ADDITIONAL_ORIGINS",
        "TAP_APP_URL",
        "TAP_APPROVAL_BASE_URL",
        "TAP_WORKERS",
        "DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS",
        "DANGEROUS_TAP_DEV_SKIP_AUTH",
        "TAP_TRUSTED_PROXIES",
        "TAP_LOCAL_COMPOSE",
        "TAP_SKR_SIDECAR_URL",
        "TAP_SKR_MAA_ENDPOINT",
        "TAP_SKR_AKV_ENDPOINT",
        "TAP_SKR_KEY_ID",
    ]
)
#: Read by the compose files themselves (interpolated), never by TAP.
COMPOSE_ENV = frozenset(["POSTGRES_PASSWORD"])
#: Registry host names stay out of project files; images go by short name.
REGISTRY_HOSTS = ("docker.io", "ghcr.io", "quay.io", "mcr.microsoft.com", "pypi.org")


def _compose(name: str) -> dict[str, Any]:
    data = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (REPO / "local.env.example").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"not NAME=value: {line!r}"
            assert name not in pairs, f"{name} twice"
            pairs[name] = value
    return pairs


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    return _compose("docker-compose.yaml")


@pytest.fixture(scope="module")
def local() -> dict[str, Any]:
    return _compose("docker-compose.local.yaml")


# -- production compose ----------------------------------------------------------


def test_production_runs_proxy_postgres_and_nginx(production: dict[str, Any]) -> None:
    assert set(production["services"]) == {"proxy", "postgres", "nginx"}


def test_proxy_port_is_internal_and_nginx_publishes_80_and_443(
    production: dict[str, Any],
) -> None:
    proxy, nginx = production["services"]["proxy"], production["services"]["nginx"]
    assert "ports" not in proxy
    assert proxy["expose"] == ["3100"]
    assert nginx["ports"] == ["80:80", "443:443"]


def test_production_has_a_real_postgres_that_is_not_published(
    production: dict[str, Any],
) -> None:
    services = production["services"]
    postgres = services["postgres"]
    assert "ports" not in postgres
    assert "tap-postgres:/var/lib/postgresql/data" in postgres["volumes"]
    assert "tap-postgres" in production["volumes"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert services["proxy"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The image has no embedded Postgres, so the proxy is always given the service's URL,
    # with the password from .env (compose stops when it is missing).
    password = postgres["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${POSTGRES_PASSWORD:?")
    pg = postgres["environment"]
    expected = f"postgres://{pg['POSTGRES_USER']}:{password}@postgres:5432/{pg['POSTGRES_DB']}"
    assert services["proxy"]["environment"]["POSTGRES_DATABASE_URL"] == expected


def test_proxy_is_built_from_the_containerfile(production: dict[str, Any]) -> None:
    build = production["services"]["proxy"]["build"]
    assert build["dockerfile"] == "Containerfile"
    assert set(build["args"]) >= {"GIT_SHA", "TAP_FEATURES"}
    assert "ARG GIT_SHA" in (REPO / "Containerfile").read_text(encoding="utf-8")


def test_health_check_asks_health_every_30_seconds(production: dict[str, Any]) -> None:
    check = production["services"]["proxy"]["healthcheck"]
    assert check["interval"] == "30s"
    assert any("/health" in part for part in check["test"])
    assert ":3100/" in " ".join(check["test"])


def test_nginx_mounts_its_config_and_certificates(production: dict[str, Any]) -> None:
    volumes = production["services"]["nginx"]["volumes"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in volumes
    assert "./deploy/certs:/etc/nginx/certs:ro" in volumes
    assert production["services"]["nginx"]["depends_on"]["proxy"]["condition"] == "service_healthy"


def test_data_volume_matches_the_image(production: dict[str, Any]) -> None:
    proxy = production["services"]["proxy"]
    assert "tap-data:/data" in proxy["volumes"]
    assert "tap-data" in production["volumes"]
    assert proxy["environment"]["TAP_DATA_DIR"] == "/data"
    assert proxy["environment"]["TAP_AUDIT_LOG"] == "/data/audit.jsonl"
    assert 'VOLUME ["/data"]' in (REPO / "Containerfile").read_text(encoding="utf-8")


# -- local compose -------------------------------------------------------------------


def test_local_publishes_3100_on_loopback_only(local: dict[str, Any]) -> None:
    assert local["services"]["proxy"]["ports"] == ["127.0.0.1:3100:3100"]
    assert "postgres" not in local["services"], "the production file's Postgres serves both"


def test_local_uses_its_own_data_folder_not_make_runs(local: dict[str, Any]) -> None:
    volumes = local["services"]["proxy"]["volumes"]
    assert volumes == ["./data-compose:/data"]
    # `make run` keeps its database and key in ./data; the two never share a folder.
    assert all(v.split(":")[0].rstrip("/") not in {"./data", "data"} for v in volumes)
    assert "data-compose/" in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_local_leaves_nginx_out(local: dict[str, Any]) -> None:
    assert local["services"]["nginx"]["profiles"] == ["production"]


def test_local_turns_on_the_development_login(local: dict[str, Any]) -> None:
    assert local["services"]["proxy"]["environment"]["DANGEROUS_TAP_DEV_SKIP_AUTH"] == "true"


# -- environment names -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["docker-compose.yaml", "docker-compose.local.yaml"])
def test_compose_sets_only_documented_variables(name: str) -> None:
    proxy = _compose(name)["services"]["proxy"]
    assert set(proxy.get("environment", {})) <= DOCUMENTED_ENV


def test_env_example_lists_every_documented_variable() -> None:
    assert set(_env_example()) == DOCUMENTED_ENV | COMPOSE_ENV


def test_env_example_holds_no_secret_values() -> None:
    env = _env_example()
    assert env["TAP_ENCRYPTION_KEY"] == ""
    assert all(value in {"", "false"} for value in env.values())


def test_production_reads_the_env_file(production: dict[str, Any]) -> None:
    assert production["services"]["proxy"]["env_file"] == ".env"


def test_env_example_is_accepted_by_the_config_parser() -> None:
    config = pytest.importorskip("app.config")
    env = {k: v for k, v in _env_example().items()}
    env["TAP_ENCRYPTION_KEY"] = "ab" * 32
    config.Config.from_env(env)


# -- nginx ------------------------------------------------------------------------------


def test_nginx_terminates_tls_12_or_newer_for_the_proxy() -> None:
    conf = (REPO / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    assert re.search(r"listen 443 ssl;", conf)
    assert re.search(r"ssl_protocols TLSv1\.2 TLSv1\.3;", conf)
    assert "TLSv1.1" not in conf and "TLSv1 " not in conf
    assert "/etc/nginx/certs/cert.pem" in conf and "/etc/nginx/certs/key.pem" in conf
    assert "server proxy:3100;" in conf


def test_nginx_port_80_only_redirects_to_https() -> None:
    conf = (REPO / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    servers = re.findall(r"\n    server \{\n(.*?)\n    \}", conf, re.S)
    (plain,) = [s for s in servers if re.search(r"^\s*listen 80;", s, re.M)]
    assert "return 301 https://$server_name$request_uri;" in plain
    assert "proxy_pass" not in plain and "location" not in plain


@pytest.mark.parametrize(
    "name",
    [
        "docker-compose.yaml", "docker-compose.local.yaml", "deploy/nginx.conf",
        "local.env.example", "Containerfile", "docs/image.md",
    ],
)  # fmt: skip
def test_no_registry_host_names(name: str) -> None:
    text = (REPO / name).read_text(encoding="utf-8")
    assert [host for host in REGISTRY_HOSTS if host in text] == []
