"""Tests for app.proxy.body_views: what gets scanned, and what cannot be."""

from __future__ import annotations

import gzip

import pytest

from app.proxy.body_views import views_of


@pytest.mark.parametrize(
    ("body", "content_type", "in_place"),
    [
        (b'{"a":1}', "application/json", True),
        (b"caf\xc3\xa9", "text/plain; charset=UTF-8", True),
        (b"plain", None, True),
        (b"\x89PNG\r\n", "image/png", False),
        (b"\xff\xfe\x00", "image/x-icon", False),
        (b"nul\x00inside", "text/plain", False),
    ],
)
def test_text_is_redacted_in_place(body: bytes, content_type: str | None, in_place: bool) -> None:
    views = views_of(body, content_type)
    assert views.in_place is in_place and views.unscannable is None


def test_a_broken_byte_order_mark_in_text_is_unscannable() -> None:
    assert views_of(b"\xff\xfe\x00", None).unscannable == "body is not valid utf-16"
    assert views_of(b"\xff\xfe\x00", "text/plain").unscannable == "body is not valid utf-16"


def test_other_charsets_are_decoded_to_utf8() -> None:
    views = views_of("é secret".encode("utf-32"), None)
    assert views.copies == ("é secret".encode(),) and not views.in_place
    views = views_of("SECRET".encode("cp1140"), "text/plain; charset=cp1140")
    assert views.copies == (b"SECRET",)


def test_nested_compression_is_opened_to_a_limit() -> None:
    inner = b"deep text"
    body = inner
    for _ in range(3):
        body = gzip.compress(body)
    views = views_of(body, "application/gzip")
    assert views.copies[-1] == inner and views.unscannable is None
    views = views_of(gzip.compress(body), "application/gzip")
    assert views.unscannable == "archive nested too deeply"
