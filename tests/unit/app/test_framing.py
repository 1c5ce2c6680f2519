"""Which header sets :func:`app.framing.ambiguity` refuses (the raw-socket tests are in
tests/integration/server/test_http_limits.py)."""

from __future__ import annotations

import pytest

from app.framing import ambiguity

HOST = (b"host", b"tap")

# (case, header names and values as the server hands them on, HTTP version, refused)
CASES: list[tuple[str, list[tuple[bytes, bytes]], str, bool]] = [
    # Plain requests pass.
    ("no body", [HOST], "1.1", False),
    ("content-length", [HOST, (b"content-length", b"5")], "1.1", False),
    ("chunked", [HOST, (b"transfer-encoding", b"chunked")], "1.1", False),
    ("HTTP/1.0 without host", [], "1.0", False),
    # The body length given two ways, or twice.
    ("both", [HOST, (b"content-length", b"5"), (b"transfer-encoding", b"chunked")], "1.1", True),
    (
        "both, other order",
        [HOST, (b"transfer-encoding", b"chunked"), (b"content-length", b"5")],
        "1.1",
        True,
    ),
    ("two lengths", [HOST, (b"content-length", b"5"), (b"content-length", b"5")], "1.1", True),
    # Which host.
    ("no host", [], "1.1", True),
    ("two hosts", [HOST, (b"host", b"evil.example")], "1.1", True),
]


@pytest.mark.parametrize(
    ("case", "headers", "version", "refused"), CASES, ids=[c[0] for c in CASES]
)
def test_ambiguity(
    case: str, headers: list[tuple[bytes, bytes]], version: str, refused: bool
) -> None:
    assert (ambiguity(headers, version) is not None) == refused
