"""Tests for app/audit_spool.py: durable, bounded, lossless, drained once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.audit_spool import AuditSpool, SpoolCorrupt, decode, encode


def _record(n: int, body: bytes | None = b"a\x00\xff") -> Any:
    return {
        "record_id": f"00000000-0000-0000-0000-{n:012d}",
        "request_id": "00000000-0000-0000-0000-000000000000",
        "team_id": "t",
        "agent_id": "a",
        "credential_names": ["c"],
        "target_url": "https://x/",
        "method": "POST",
        "outcome": "forwarded",
        "approval_status": None,
        "upstream_status": 200,
        "total_latency_ms": 1,
        "approval_latency_ms": None,
        "upstream_latency_ms": 1,
        "response_sanitized": False,
        "request_headers": [(b"X-Odd", b"\xff\x00")],
        "request_body": body,
        "request_body_truncated": False,
        "policy_reason": None,
        "require_passkey": False,
        "approver_identity": None,
        "error": None,
        "timestamp": "2026-01-01T00:00:00+00:00",
    }


@pytest.mark.parametrize("body", [None, b"", b"a\x00\xff", bytes(range(256))])
def test_a_line_holds_any_bytes(body: bytes | None) -> None:
    record = _record(1, body)
    assert decode(encode(record)) == record


@pytest.mark.parametrize(
    "line", ["", "{", "[]", '{"request_body": "!!"}', '{"request_body": null}']
)
def test_unreadable_lines_are_refused(line: str) -> None:
    with pytest.raises(SpoolCorrupt):
        decode(line)


def test_batches_drain_oldest_first_and_once(tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path, max_bytes=1 << 20)
    spool.open()
    assert spool.put([_record(1)]) and spool.put([_record(2), _record(3)])
    paths = spool.pending()
    assert len(paths) == 2
    with spool.claim(paths[0]) as claimed:
        assert claimed is not None
        assert [r["record_id"][-1] for r in claimed.records] == ["1"]
        # Another worker cannot take the file while it is held.
        with spool.claim(paths[0]) as other:
            assert other is None
        spool.done(claimed)
    # Nor after it is gone.
    with spool.claim(paths[0]) as gone:
        assert gone is None
    assert spool.pending() == paths[1:]


def test_the_bound_refuses_a_batch_that_does_not_fit(tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path, max_bytes=1500)
    spool.open()
    assert spool.put([_record(1)])
    assert not spool.put([_record(2), _record(3)])
    assert spool.size_bytes() <= 1500
    # At shutdown, what is in memory is written anyway.
    assert spool.put([_record(2)], force=True)
    assert len(spool.pending()) == 2


def test_refused_records_and_corrupt_files_are_set_aside(tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path, max_bytes=1 << 20)
    spool.open()
    spool.reject(_record(9))
    assert spool.pending() == []
    (tmp_path / "00-corrupt.jsonl").write_text(encode(_record(1)) + "\nnot json\n")
    (path,) = spool.pending()
    with spool.claim(path) as claimed:
        assert claimed is not None and claimed.corrupt_lines == 1 and len(claimed.records) == 1
        spool.done(claimed)
    assert spool.pending() == []
    assert len(list((tmp_path / "rejected").glob("*.jsonl"))) == 2
