"""Tests for app.proxy.unescape: one level of escapes undone, and spans mapped back."""

from __future__ import annotations

import pytest

from app.proxy.unescape import unescape


@pytest.mark.parametrize(
    ("source", "decoded"),
    [
        (b"&#65;&#x42;&#X43;&#0068;&#x45", b"ABCDE"),
        (b"a&amp;b&lt;&sol;&unknownentity;", b"a&b</&unknownentity;"),
        (b"\\u0041\\u00e9\\ud83d\\ude00", "A\u00e9\U0001f600".encode()),
        (b'\\x41\\"\\\\\\/\\n', b'A"\\/\n'),
        (b"%41%2f%2F%zz", b"A//%zz"),
        (b"%2541", b"%41"),
        (b"&#0; &#1114112; &#xD800;", b"&#0; &#1114112; &#xD800;"),
    ],
)
def test_one_level_is_undone(source: bytes, decoded: bytes) -> None:
    layer = unescape(source)
    if decoded == source:
        assert layer is None
    else:
        assert layer is not None and layer.data == decoded


def test_nothing_to_undo() -> None:
    assert unescape(b"plain text without escapes") is None
    assert unescape(b"100% & a \\ b") is None


def test_spans_map_to_whole_escapes() -> None:
    source = b"xx &#97;b%63d\\u0065f yy"
    layer = unescape(source)
    assert layer is not None and layer.data == b"xx abcdef yy"
    start = layer.data.index(b"abcdef")
    assert layer.source_span(start, start + 6) == (3, source.index(b" yy"))
    # A span that starts inside plain text and ends inside an escape.
    b_at = layer.data.index(b"b")
    assert source[slice(*layer.source_span(b_at, b_at + 2))] == b"b%63"
    # Plain text before the first escape maps to itself.
    assert layer.source_span(0, 2) == (0, 2)
