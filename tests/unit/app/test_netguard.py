"""Tests for app.netguard's loopback test (the address tables are covered in test_ssrf)."""

from __future__ import annotations

import pytest

from app.netguard import is_loopback_host


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("api.localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        # not loopback
        ("localhost.example.com", False),
        ("mylocalhost", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("api.example.com", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
