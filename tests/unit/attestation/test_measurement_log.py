"""Tests for attestation/_measurement_log.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attestation import InputError, LogRow, VerificationError, append_row, verify_log
from tests.support.attestation import GIT_SHA, HOSTDATA, log_line, row_fields


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "production.jsonl"
    path.write_bytes(data)
    return path


def failed(path: Path, **kw: Any) -> str:
    with pytest.raises(VerificationError) as info:
        verify_log(path, **kw)
    return info.value.check


def test_valid_log(tmp_path: Path) -> None:
    second = log_line(deployed_at="2026-01-02T00:00:00Z", cce_policy=None, cce_hostdata="3" * 64)
    log, report = verify_log(write(tmp_path, log_line() + second))
    assert len(log.rows) == 2
    assert report.ok
    assert [r.actual for r in report.results if r.name.endswith("hostdata")] == [
        HOSTDATA,
        "no policy published",
    ]
    assert log.rows_for(GIT_SHA, None) == log.rows
    assert log.rows_for(GIT_SHA, "staging") == ()


@pytest.mark.parametrize(
    ("data", "check"),
    [
        # framing
        (b"", "log.non-empty"),
        (log_line()[:-1], "log.framing"),
        (log_line() + b"\n", "log.framing"),
        (b"\xff\n", "log.framing"),
        # rows: not JSON, unknown or missing members, bad values
        (b"{\n", "line 1.well-formed"),
        (log_line(extra="x"), "line 1.well-formed"),
        (log_line(kek=None), "line 1.well-formed"),
        (log_line(git_sha="ABC"), "line 1.well-formed"),
        (log_line(git_sha=1), "line 1.well-formed"),
        (log_line(cce_hostdata=HOSTDATA.upper()), "line 1.well-formed"),
        (log_line(image_digest="sha512:" + "2" * 64), "line 1.well-formed"),
        (log_line(deployed_at="2026-01-01 00:00:00Z"), "line 1.well-formed"),
        (log_line(deployed_at="2026-02-30T00:00:00Z"), "line 1.well-formed"),
        (log_line(maa_endpoint="https://maa.example/"), "line 1.well-formed"),
        (log_line(maa_endpoint="http://maa.example"), "line 1.well-formed"),
        (log_line(run_url="http://ci.example/1"), "line 1.well-formed"),
        (log_line(cce_policy="not base64"), "line 1.well-formed"),
        (log_line(environment="Production"), "line 1.well-formed"),
        # another spelling of a valid row
        (json.dumps(row_fields(), indent=None).encode() + b"\n", "line 1.canonical"),
        # history going backwards
        (log_line() + log_line(deployed_at="2025-12-31T23:59:59Z"), "line 2.order"),
        # a published policy that does not hash to the hostdata
        (log_line(cce_hostdata="3" * 64), "line 1.hostdata"),
    ],
)
def test_refusals(tmp_path: Path, data: bytes, check: str) -> None:
    assert failed(write(tmp_path, data)) == check


def test_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        verify_log(tmp_path / "missing.jsonl")


def test_prefix_of_an_earlier_copy(tmp_path: Path) -> None:
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_bytes(log_line())
    later = log_line(deployed_at="2026-01-02T00:00:00Z")
    _, report = verify_log(write(tmp_path, log_line() + later), earlier=earlier)
    assert report.results[-1].name == "log.prefix"
    # the first row was rewritten in place
    rewritten = log_line(image_digest="sha256:" + "9" * 64) + later
    assert failed(write(tmp_path, rewritten), earlier=earlier) == "log.prefix"
    # a row was removed
    assert failed(write(tmp_path, later), earlier=earlier) == "log.prefix"


def test_append_creates_then_extends(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    append_row(path, LogRow(**row_fields()))
    report = append_row(path, LogRow(**row_fields(deployed_at="2026-01-02T00:00:00Z")))
    assert [r.name for r in report.results][-2:] == ["append.order", "append.hostdata"]
    assert path.read_bytes() == log_line() + log_line(deployed_at="2026-01-02T00:00:00Z")
    assert len(verify_log(path)[0].rows) == 2


@pytest.mark.parametrize(
    ("existing", "row", "check"),
    [
        # going back in time
        (log_line(), row_fields(deployed_at="2025-12-31T00:00:00Z"), "append.order"),
        # a policy that does not hash to the hostdata claimed
        (
            log_line(),
            row_fields(deployed_at="2026-01-02T00:00:00Z", cce_hostdata="3" * 64),
            "append.hostdata",
        ),
        # the existing log was tampered with: refuse to extend it
        (log_line(git_sha="x"), row_fields(), "line 1.well-formed"),
        (log_line()[:-1], row_fields(), "log.framing"),
    ],
)
def test_append_refusals(tmp_path: Path, existing: bytes, row: dict[str, Any], check: str) -> None:
    path = write(tmp_path, existing)
    with pytest.raises(VerificationError) as info:
        append_row(path, LogRow(**row))
    assert info.value.check == check
    assert path.read_bytes() == existing


@pytest.mark.parametrize(
    "overrides",
    [
        {"git_sha": "g" * 40},
        {"kek": "vault only"},
        {"cosign_identity": "not a url"},
        {"deployed_at": "2026-01-01T00:00:00+00:00"},
    ],
)
def test_row_constructor_refuses_invalid_fields(overrides: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        LogRow(**row_fields(**overrides))


def test_row_round_trip() -> None:
    row = LogRow(**row_fields())
    assert LogRow.from_json(json.loads(row.to_line())) == row
    assert row.to_line() == log_line()
