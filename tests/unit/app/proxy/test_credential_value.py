"""Tests for app.proxy.credential_value: parsing a revealed value once, masking it, header safety."""

from __future__ import annotations

import pytest

from app.proxy.credential_value import CredentialValue, unsafe_in_header


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ("sk_live_123", None),
        ('{"username": "u", "password": "p"}', {"username": "u", "password": "p"}),
        # only string members are fields
        ('{"token": "t", "ttl": 60, "nested": {"a": "b"}}', {"token": "t"}),
        # not an object, or not JSON at all: the raw text only
        ('["a", "b"]', None),
        ("{not json", None),
        ("[" * 100_000, None),
    ],
)
def test_parse(raw: str, fields: dict[str, str] | None) -> None:
    value = CredentialValue.parse(raw)
    assert value.raw == raw
    assert value.fields == fields
    assert value.is_object is (fields is not None)


def test_repr_shows_field_names_only() -> None:
    value = CredentialValue.parse('{"username": "svc-user", "password": "hunter2-secret"}')
    for shown in (repr(value), str(value), f"{value}"):
        assert "hunter2-secret" not in shown and "svc-user" not in shown
        assert "password" in shown and "username" in shown
    plain = CredentialValue.parse("sk_live_abcdef")
    assert "sk_live_abcdef" not in repr(plain)


@pytest.mark.parametrize(
    ("text", "unsafe"),
    [
        ("Bearer sk_live_123", False),
        ("tab\tis fine", False),
        ("a\r\nX-Injected: 1", True),
        ("lf\nonly", True),
        ("nul\x00", True),
        ("del\x7f", True),
    ],
)
def test_unsafe_in_header(text: str, unsafe: bool) -> None:
    assert unsafe_in_header(text) is unsafe
