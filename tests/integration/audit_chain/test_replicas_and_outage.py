"""The chain holds when two replicas write at once, and across a database outage."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.integration.audit_chain.conftest import (
    DEADLINE_SECS,
    demo,
    file_lines,
    records,
    row_count,
    send_many,
    wait_until_signed,
)
from tests.support.audit_outage import outage_with_records_in_flight
from tests.support.postgres import create_database, restart_server, start_cluster
from tests.support.tap import run_cli, start_tap
from tests.support.upstream import Upstream
from tests.support.waiting import wait_for

PER_REPLICA = 30


def test_two_replicas_writing_at_once_make_one_valid_chain(
    tmp_path: Path, database_url: str, upstream: Upstream
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_tap(tmp_path / "a", database_url, TAP_AUDIT_CHECKPOINT_RECORDS="7")
    second = start_tap(tmp_path / "b", database_url, TAP_AUDIT_CHECKPOINT_RECORDS="7")
    try:
        key = demo(first)
        with ThreadPoolExecutor(2) as pool:
            done = pool.map(
                lambda tap: send_many(tap, key, upstream, PER_REPLICA, tap.tmp.name),
                (first, second),
            )
            list(done)
        wait_for(lambda: row_count(database_url), lambda n: n == 2 * PER_REPLICA, DEADLINE_SECS)
    finally:
        assert first.proxy.stop() == 0, first.proxy.log()
        assert second.proxy.stop() == 0, second.proxy.log()

    result = run_cli(tmp_path, database_url, "audit", "verify", "--database")
    assert result.exit_code == 0, result.output
    assert f"team default: {2 * PER_REPLICA} records" in result.output
    # Each replica's file holds its own records in chain order; together, the whole chain once.
    seqs = []
    for tap in (first, second):
        mine = [r["chain"]["seq"] for r in records(file_lines(tap.tmp / "audit.jsonl"))]
        assert mine == sorted(mine)
        seqs += mine
    assert sorted(seqs) == list(range(1, 2 * PER_REPLICA + 1))


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Postgres this test may stop and start without disturbing the others."""
    server = start_cluster(tmp_path_factory.mktemp("outage"))
    yield server
    server.cleanup()


def test_records_spooled_through_an_outage_join_the_chain_in_order(
    tmp_path: Path, own_cluster: Any, upstream: Upstream
) -> None:
    url = create_database(own_cluster)
    tap = start_tap(tmp_path, url, TAP_CACHE_TTL_SECS="3600", TAP_AUDIT_CHECKPOINT_SECS="1")
    try:
        key = demo(tap)
        send_many(tap, key, upstream, 1, "before")  # warms the caches, starts the chain
        wait_for(lambda: row_count(url), lambda n: n == 1, DEADLINE_SECS)

        def send() -> None:
            for i in range(6):
                response = tap.forward(key, "demo", f"{upstream.url}/down{i}", method="POST")
                assert response.status_code == 200, response.text

        outage_with_records_in_flight(tap, own_cluster, send)
        spool = tmp_path / "data" / "audit-spool"
        wait_for(lambda: list(spool.glob("*.jsonl")), bool, DEADLINE_SECS)
        restart_server(own_cluster)
        wait_for(lambda: list(spool.glob("*.jsonl")), lambda left: not left, DEADLINE_SECS)
        lines = wait_until_signed(tmp_path / "audit.jsonl", 7)
    finally:
        restart_server(own_cluster)
        assert tap.proxy.stop() == 0, tap.proxy.log()

    assert [r["target_url"].rsplit("/", 1)[1] for r in records(lines)] == [
        "before0",
        *(f"down{i}" for i in range(6)),
    ]
    for source in (["--database"], ["--from-file", str(tmp_path / "audit.jsonl")]):
        result = run_cli(tmp_path, url, "audit", "verify", *source)
        assert result.exit_code == 0, result.output
        assert "team default: 7 records, " in result.output
