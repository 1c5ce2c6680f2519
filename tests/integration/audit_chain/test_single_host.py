"""One host, two workers: the file and the table hold one valid chain, and tampering shows.

A real tap-proxy (two worker processes appending to one file) forwards
requests; ``tap audit verify`` then checks the file and the database, and
finds edits, deletions, insertions and swaps at the right line or record.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app.crypto import KeyRing
from tests.integration.audit_chain.conftest import (
    checkpoints,
    demo,
    file_lines,
    records,
    row_count,
    send_many,
    wait_until_signed,
)
from tests.support import audit_tamper
from tests.support.audit_outage import query
from tests.support.postgres import create_database
from tests.support.proxy import TEST_KEY
from tests.support.tap import Tap, run_cli, start_tap
from tests.support.upstream import Upstream

COUNT = 12


@pytest.fixture(scope="module")
def chained(
    tmp_path_factory: pytest.TempPathFactory, pg_cluster: Any
) -> Iterator[tuple[Tap, list[str]]]:
    """A database and a file holding a chain of COUNT records with checkpoints; the proxy stopped."""
    tmp = tmp_path_factory.mktemp("chain")
    upstream = Upstream().start()
    tap = start_tap(
        tmp,
        create_database(pg_cluster),
        TAP_WORKERS="2",
        TAP_AUDIT_CHECKPOINT_RECORDS="5",
        TAP_AUDIT_CHECKPOINT_SECS="1",
        TAP_AUDIT_CHECKPOINT_LOG=str(tmp / "shipped" / "checkpoints.jsonl"),
    )
    try:
        (tmp / "shipped").mkdir()
        key = demo(tap)
        send_many(tap, key, upstream, COUNT, "r")
        lines = wait_until_signed(tmp / "audit.jsonl", COUNT)
        published = httpx.get(tap.url + "/audit/public-key", timeout=30)
    finally:
        assert tap.proxy.stop() == 0, tap.proxy.log()
        upstream.stop()
    assert published.status_code == 200
    assert (
        published.json()["public_key"]
        == base64.b64encode(
            KeyRing.from_master_key(bytes.fromhex(TEST_KEY)).audit_signer().public_key
        ).decode()
    )
    yield tap, lines


def verify(tap: Tap, *args: str, url: str | None = None) -> tuple[int, str]:
    result = run_cli(tap.tmp, url or tap.database_url, "audit", "verify", *args)
    return result.exit_code, result.output


def test_the_file_holds_the_committed_chain_in_order(chained: tuple[Tap, list[str]]) -> None:
    tap, lines = chained
    assert [r["chain"]["seq"] for r in records(lines)] == list(range(1, COUNT + 1))
    assert row_count(tap.database_url) == COUNT
    signed = checkpoints(lines)
    assert signed and signed[-1]["count"] == COUNT
    # Every checkpoint was also shipped to the append-only sink.
    shipped = file_lines(tap.tmp / "shipped" / "checkpoints.jsonl")
    assert [json.loads(line)["checkpoint"] for line in shipped] == signed


def test_an_untouched_chain_verifies_from_the_file_and_the_database(
    chained: tuple[Tap, list[str]],
) -> None:
    tap, _ = chained
    code, output = verify(tap, "--from-file", str(tap.tmp / "audit.jsonl"))
    assert code == 0, output
    assert f"team default: {COUNT} records" in output
    code, output = verify(tap, "--database")
    assert code == 0, output
    assert f"team default: {COUNT} records" in output and f"signed through record {COUNT}" in output


def test_a_copy_of_the_file_verifies_anywhere_with_the_published_key(
    chained: tuple[Tap, list[str]], tmp_path: Path
) -> None:
    tap, _ = chained
    public = base64.b64encode(
        KeyRing.from_master_key(bytes.fromhex(TEST_KEY)).audit_signer().public_key
    ).decode()
    copy = tmp_path / "audit.jsonl"
    copy.write_text((tap.tmp / "audit.jsonl").read_text())
    # No database and no key: only the file and the public key.
    url = "postgresql://nobody@127.0.0.1:1/none"
    code, output = verify(tap, "--from-file", str(copy), "--public-key", public, url=url)
    assert code == 0, output
    stranger = base64.b64encode(KeyRing.from_master_key(bytes(32)).audit_signer().public_key)
    code, output = verify(tap, "--from-file", str(copy), "--public-key", stranger.decode(), url=url)
    assert code == 1 and "not signed by a trusted key" in output


def _record_lines(lines: list[str]) -> list[int]:
    """1-based numbers of the lines holding records."""
    return [i for i, line in enumerate(lines, 1) if not line.startswith('{"checkpoint"')]


@pytest.mark.parametrize("kind", ["edit", "delete", "insert", "swap"])
def test_tampering_with_the_file_is_found_at_its_line(
    chained: tuple[Tap, list[str]], tmp_path: Path, kind: str
) -> None:
    tap, lines = chained
    at = next(i for i in _record_lines(lines)[2:] if i + 1 in _record_lines(lines))
    tampered = {
        "edit": lambda: audit_tamper.edit(lines, at),
        "delete": lambda: audit_tamper.delete(lines, at),
        "insert": lambda: audit_tamper.insert(lines, at, lines[0]),
        "swap": lambda: audit_tamper.swap(lines, at),
    }[kind]()
    path = tmp_path / "audit.jsonl"
    path.write_text("\n".join(tampered) + "\n")
    code, output = verify(tap, "--from-file", str(path))
    assert code == 1
    expected = {"edit": "changed", "delete": "removed", "insert": "inserted", "swap": "reordered"}
    assert f"line {at}: {expected[kind]}" in output, output


def _id(url: str, seq: int) -> int:
    return int(query(url, "SELECT id FROM audit_log WHERE chain_seq = $1", seq)[0][0])


def _edit(url: str) -> None:
    query(url, "UPDATE audit_log SET target_url = 'https://attacker.example/' WHERE chain_seq = 4")


def _delete(url: str) -> None:
    query(url, "DELETE FROM audit_log WHERE chain_seq = 4")


def _insert(url: str) -> None:
    # A copy of record 2, outside the chain, slipped in between records 4 and 5.
    query(url, "UPDATE audit_log SET id = -id")
    query(url, "UPDATE audit_log SET id = -id * 10")
    query(url, "CREATE TABLE forged AS SELECT * FROM audit_log WHERE chain_seq = 2")
    query(
        url,
        "UPDATE forged SET id = $1, record_id = gen_random_uuid(),"
        " chain_seq = NULL, chain_prev = NULL, chain_hash = NULL",
        _id(url, 4) + 5,
    )
    query(url, "INSERT INTO audit_log SELECT * FROM forged")


def _swap(url: str) -> None:
    four, five = _id(url, 4), _id(url, 5)
    query(url, "UPDATE audit_log SET id = -1 WHERE id = $1", four)
    query(url, "UPDATE audit_log SET id = $1 WHERE id = $2", four, five)
    query(url, "UPDATE audit_log SET id = $1 WHERE id = -1", five)


TABLE_TAMPERING = {
    # (what is done to a copy of the database, the record position named, the kind)
    "edit": (_edit, 4, "changed"),
    "delete": (_delete, 4, "removed"),
    "insert": (_insert, 5, "inserted"),
    "swap": (_swap, 4, "reordered"),
}


@pytest.mark.parametrize("kind", sorted(TABLE_TAMPERING))
def test_tampering_with_the_table_is_found_at_its_record(
    chained: tuple[Tap, list[str]], pg_cluster: Any, kind: str
) -> None:
    tap, _ = chained
    url = _copy_of(pg_cluster, tap.database_url)
    tamper, at, what = TABLE_TAMPERING[kind]
    tamper(url)
    code, output = verify(tap, "--database", url=url)
    assert code == 1
    assert f"record {at}: {what}" in output, output


def test_removing_the_newest_records_is_found_by_the_checkpoint(
    chained: tuple[Tap, list[str]], pg_cluster: Any
) -> None:
    tap, _ = chained
    url = _copy_of(pg_cluster, tap.database_url)
    query(url, f"DELETE FROM audit_log WHERE chain_seq >= {COUNT - 1}")
    code, output = verify(tap, "--database", url=url)
    assert code == 1 and f"record {COUNT - 1}: removed" in output, output


def _copy_of(server: Any, url: str) -> str:
    """A new database holding what ``url`` holds (nothing may be connected to it)."""
    name = "t_" + uuid.uuid4().hex[:16]
    source = urlsplit(url).path.lstrip("/")
    query(server.get_uri(), f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    copy: str = server.get_uri(database=name)
    return copy


def test_tap_logs_shows_records_not_checkpoints(chained: tuple[Tap, list[str]]) -> None:
    tap, _ = chained
    result = run_cli(tap.tmp, tap.database_url, "logs", "--json", "--tail", str(COUNT))
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert len(shown) == COUNT and all("checkpoint" not in entry for entry in shown)
