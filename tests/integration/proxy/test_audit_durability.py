"""Audit records are never lost: odd bytes, refused records and database outages.

Each test drives a real tap-proxy against a real Postgres and checks what the
database, the JSONL file and ``/agent/logs`` hold afterwards.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.audit_outage import outage_with_records_in_flight, query
from tests.support.postgres import (
    create_database,
    restart_server,
    start_cluster,
)
from tests.support.tap import Tap, start_tap
from tests.support.upstream import Upstream

SECRET = "sk-live-durable-0123456789"
DEADLINE_SECS = 30


@pytest.fixture
def demo(tap: Tap) -> str:
    return _demo(tap)


def _demo(tap: Tap) -> str:
    """A credential whose writes run at once (no approval), and an agent that may use it."""
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    tap.ok("policy", "set", "demo", "--auto-approve-methods", "GET,POST")
    return tap.agent("bot", "--credentials", "demo")


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_SECS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _rows(url: str) -> list[asyncpg.Record]:
    return query(
        url,
        "SELECT record_id, request_id, target_url, request_headers, request_body FROM audit_log",
    )


def _jsonl(tap: Tap) -> list[dict[str, Any]]:
    path = tap.tmp / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _send_together(requests: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    # Sent at once, so the writer sees them in one batch.
    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(lambda send: send(), requests))


def _forward(
    tap: Tap,
    key: str,
    target: str,
    *,
    content: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Callable[[], httpx.Response]:
    def send() -> httpx.Response:
        sent: list[tuple[bytes, bytes]] = [
            (b"X-TAP-Key", key.encode()),
            (b"X-TAP-Credential", b"demo"),
            (b"X-TAP-Target", target.encode()),
            (b"X-TAP-Method", b"POST"),
            *(headers or []),
        ]
        return httpx.post(tap.url + "/forward", headers=sent, content=content, timeout=30)

    return send


# -- bytes Postgres text refuses ---------------------------------------------------------------


def test_nul_body_and_binary_header_are_audited_with_their_batch(
    tap: Tap, demo: str, upstream: Upstream
) -> None:
    nul_body = b'{"name":"a\x00b"}'
    binary_body = b"\xff\xfe\x00raw"
    responses = _send_together(
        [
            _forward(tap, demo, upstream.url + "/nul", content=nul_body),
            _forward(tap, demo, upstream.url + "/bin", content=binary_body),
            _forward(tap, demo, upstream.url + "/hdr", headers=[(b"X-Odd", b"\xff\xfe ok")]),
            *(_forward(tap, demo, f"{upstream.url}/plain{i}", content=b"{}") for i in range(5)),
        ]
    )
    assert [r.status_code for r in responses] == [200] * 8

    _wait_for(lambda: len(_rows(tap.database_url)) == 8, "8 audit rows in Postgres")
    by_path = {row["target_url"].rsplit("/", 1)[1]: row for row in _rows(tap.database_url)}
    # Postgres holds exactly the bytes that were sent.
    assert bytes(by_path["nul"]["request_body"]) == nul_body
    assert bytes(by_path["bin"]["request_body"]) == binary_body
    assert [b"X-Odd", b"\xff\xfe ok"] in [
        list(map(bytes, h)) for h in by_path["hdr"]["request_headers"]
    ]

    logs = {e["target_url"].rsplit("/", 1)[1]: e for e in tap.logs(demo, at_least=8)["entries"]}
    assert len(logs) == 8
    assert logs["nul"]["request_body"] == nul_body.decode()
    assert logs["nul"]["request_body_base64"] is None
    assert logs["bin"]["request_body"] == "<binary body, not stored in audit log>"
    assert base64.b64decode(logs["bin"]["request_body_base64"]) == binary_body
    assert ["X-Odd", "\\xff\\xfe ok"] in logs["hdr"]["request_headers"]

    lines = {e["target_url"].rsplit("/", 1)[1]: e for e in _jsonl(tap)}
    assert len(lines) == 8
    assert lines["nul"]["request_body"] == nul_body.decode()
    assert base64.b64decode(lines["bin"]["request_body_base64"]) == binary_body


def test_team_audit_and_cli_read_bodies(tap: Tap, demo: str, upstream: Upstream) -> None:
    assert (
        tap.forward(demo, "demo", upstream.url, method="POST", content=b"a\x00b").status_code == 200
    )
    tap.logs(demo, at_least=1)
    (entry,) = json.loads(tap.ok("logs", "--json"))
    assert entry["request_body"] == "a\x00b"


# -- a record the database refuses -------------------------------------------------------------


def test_a_refused_record_does_not_take_its_batch_with_it(
    tap: Tap, demo: str, upstream: Upstream
) -> None:
    # A rule in the database that refuses one record for what it holds (as a constraint,
    # a full column or a bad value would).
    query(
        tap.database_url,
        """
        CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.target_url LIKE '%poison%' THEN RAISE EXCEPTION 'refused'; END IF;
            RETURN NEW;
        END $$;
        """,
    )
    query(
        tap.database_url,
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
    )
    responses = _send_together(
        [
            _forward(tap, demo, upstream.url + "/poison"),
            *(_forward(tap, demo, f"{upstream.url}/fine{i}") for i in range(5)),
        ]
    )
    assert [r.status_code for r in responses] == [200] * 6

    _wait_for(lambda: len(_rows(tap.database_url)) == 5, "the 5 good records")
    targets = sorted(row["target_url"].rsplit("/", 1)[1] for row in _rows(tap.database_url))
    assert targets == [f"fine{i}" for i in range(5)]
    # The refused record is kept, not dropped: set aside for an operator. The JSONL file holds
    # what the database committed, in chain order, so the refused record is not in it.
    _wait_for(lambda: len(_jsonl(tap)) == 5, "the 5 good records in the file")
    assert "poison" not in {e["target_url"].rsplit("/", 1)[1] for e in _jsonl(tap)}
    rejected = tap.tmp / "data" / "audit-spool" / "rejected"
    _wait_for(lambda: any(rejected.glob("*.jsonl")), "the refused record set aside")
    assert "poison" in "".join(p.read_text() for p in rejected.glob("*.jsonl"))
    assert "refused by the database" in tap.proxy.log()


# -- the database goes away --------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Postgres these tests may stop and start without disturbing the others."""
    server = start_cluster(tmp_path_factory.mktemp("outage"))
    yield server
    server.cleanup()


def _outage_tap(tmp: Path, server: Any, upstream: Upstream, **env: str) -> tuple[Tap, str]:
    tap = start_tap(tmp, create_database(server), TAP_CACHE_TTL_SECS="3600", **env)
    key = _demo(tap)
    # One request while the database is up warms the agent and credential caches.
    assert tap.forward(key, "demo", upstream.url).status_code == 200
    _wait_for(lambda: len(_rows(tap.database_url)) == 1, "the first record")
    return tap, key


def _spooled(tap: Tap) -> list[Path]:
    return sorted((tap.tmp / "data" / "audit-spool").glob("*.jsonl"))


def test_outage_spools_records_and_writes_them_once_the_database_is_back(
    tmp_path: Path, own_cluster: Any, upstream: Upstream
) -> None:
    tap, key = _outage_tap(tmp_path, own_cluster, upstream)
    try:

        def send() -> None:
            for i in range(6):
                response = tap.forward(
                    key, "demo", f"{upstream.url}/down{i}", method="POST", content=b"x\x00y"
                )
                assert response.status_code == 200, response.text

        outage_with_records_in_flight(tap, own_cluster, send)
        _wait_for(lambda: bool(_spooled(tap)), "spool files")
        spooled = "".join(p.read_text() for p in _spooled(tap))
        assert all(f"/down{i}" in spooled for i in range(6))

        restart_server(own_cluster)
        _wait_for(lambda: not _spooled(tap), "the spool to drain")
        rows = _rows(tap.database_url)
        downs = sorted(
            r["target_url"].rsplit("/", 1)[1] for r in rows if "/down" in r["target_url"]
        )
        assert downs == [f"down{i}" for i in range(6)]  # none lost, none twice
        assert len({r["record_id"] for r in rows}) == len(rows) == 7
        assert all(
            bytes(r["request_body"]) == b"x\x00y" for r in rows if "/down" in r["target_url"]
        )
        assert "spooled audit records" in tap.proxy.log()
    finally:
        restart_server(own_cluster)
        assert tap.proxy.stop() == 0, tap.proxy.log()


def test_a_full_spool_says_so_and_still_loses_nothing(
    tmp_path: Path, own_cluster: Any, upstream: Upstream
) -> None:
    tap, key = _outage_tap(tmp_path, own_cluster, upstream, TAP_AUDIT_SPOOL_MAX_BYTES="1500")
    try:

        def send() -> None:
            for i in range(6):
                response = tap.forward(
                    key, "demo", f"{upstream.url}/full{i}", method="POST", content=b"z" * 400
                )
                assert response.status_code == 200, response.text

        outage_with_records_in_flight(tap, own_cluster, send)
        _wait_for(lambda: "audit spool full" in tap.proxy.log(), "the spool-full error")
        assert sum(p.stat().st_size for p in _spooled(tap)) <= 1500

        restart_server(own_cluster)

        def all_written() -> bool:
            rows = _rows(tap.database_url)
            return sum("/full" in r["target_url"] for r in rows) == 6

        _wait_for(all_written, "every held and spooled record")
        rows = _rows(tap.database_url)
        assert len({r["record_id"] for r in rows}) == len(rows) == 7
        _wait_for(lambda: not _spooled(tap), "the spool to drain")
    finally:
        restart_server(own_cluster)
        assert tap.proxy.stop() == 0, tap.proxy.log()
