"""Tests for attestation/_json.py."""

from __future__ import annotations

import pytest

from attestation._json import parse_object


def test_parses_an_object() -> None:
    assert parse_object(b'{"a": [1, true, null], "b": {"c": "d"}}') == {
        "a": [1, True, None],
        "b": {"c": "d"},
    }


@pytest.mark.parametrize(
    "text",
    [
        # not an object
        b"[]",
        b'"x"',
        b"1",
        # duplicate members, top level and nested
        b'{"alg": "none", "alg": "RS256"}',
        b'{"a": {"b": 1, "b": 2}}',
        # non-standard constants
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        # not JSON, not UTF-8
        b"{",
        b'{"a": "\xff"}',
        b"",
    ],
)
def test_refusals(text: bytes) -> None:
    with pytest.raises(ValueError):
        parse_object(text)
