"""Tests for app/audit_record.py: bytes in, the public shape out."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from app.audit_record import (
    BINARY_BODY,
    BODY_LIMIT_BYTES,
    MASK,
    body_for_audit,
    header_bytes,
    headers_for_audit,
    render,
)


def _record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "record_id": "00000000-0000-0000-0000-000000000001",
        "request_id": "00000000-0000-0000-0000-000000000002",
        "request_headers": [],
        "request_body": None,
        "request_body_truncated": False,
    }
    record.update(overrides)
    return record


@pytest.mark.parametrize(
    ("body", "kept", "truncated"),
    [
        # empty
        (b"", None, False),
        # bytes Postgres text refuses, and bytes that are not UTF-8, kept as they are
        (b"a\x00b", b"a\x00b", False),
        (b"\xff\xfe", b"\xff\xfe", False),
        # cut at 16 KiB, backing off to a character boundary when the body is text
        (b"x" * (BODY_LIMIT_BYTES + 1), b"x" * BODY_LIMIT_BYTES, True),
        (
            b"x" * (BODY_LIMIT_BYTES - 1) + "é".encode() + b"y",
            b"x" * (BODY_LIMIT_BYTES - 1),
            True,
        ),
        # binary bodies are cut at the limit exactly
        (b"\xff" * (BODY_LIMIT_BYTES + 5), b"\xff" * BODY_LIMIT_BYTES, True),
    ],
)
def test_body_for_audit(body: bytes, kept: bytes | None, truncated: bool) -> None:
    assert body_for_audit(body) == (kept, truncated)


def test_header_bytes_recover_what_was_received() -> None:
    # The server decodes header bytes as latin-1; encoding back is exact.
    assert header_bytes(b"\xff\xfe ok".decode("latin-1")) == b"\xff\xfe ok"
    # Anything else never raises.
    assert header_bytes("\u20ac\udcff") == "\u20ac\udcff".encode("utf-8", "surrogatepass")


def test_credential_headers_are_masked_unless_placeholders() -> None:
    headers = [
        ("Authorization", "Bearer secret"),
        ("X-Api-Key", "<CREDENTIAL:stripe>"),
        ("X-Other", "\xff"),
    ]
    assert headers_for_audit(headers) == [
        (b"Authorization", MASK.encode()),
        (b"X-Api-Key", b"<CREDENTIAL:stripe>"),
        (b"X-Other", b"\xff"),
    ]


@pytest.mark.parametrize(
    ("body", "text", "b64"),
    [
        (None, None, None),
        (b"a\x00b", "a\x00b", None),
        (b"\xff\x00", BINARY_BODY, base64.b64encode(b"\xff\x00").decode()),
    ],
)
def test_render_body(body: bytes | None, text: str | None, b64: str | None) -> None:
    shown = render(_record(request_body=body))  # type: ignore[arg-type]
    assert (shown["request_body"], shown["request_body_base64"]) == (text, b64)
    assert "record_id" not in shown


def test_render_headers_escape_what_is_not_utf8() -> None:
    shown = render(_record(request_headers=[(b"X-A", "é".encode()), (b"X-B", b"\xff")]))  # type: ignore[arg-type]
    assert shown["request_headers"] == [["X-A", "é"], ["X-B", "\\xff"]]
