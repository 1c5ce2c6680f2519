"""Tests for app.proxy.decode: whole Content-Encoding stacks, or a clear refusal."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib

import pytest

from app.proxy.decode import TooLarge, Undecodable, decode_content, decode_response, inflate

TEXT = b"the body an agent will read " * 10
LIMIT = 1 << 20


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoded", "header"),
    [
        (gzip.compress(TEXT), "gzip"),
        (gzip.compress(TEXT), "x-gzip"),
        (gzip.compress(TEXT), "GZIP"),
        (gzip.compress(gzip.compress(TEXT)), "gzip, gzip"),
        (gzip.compress(zlib.compress(TEXT)), "deflate, gzip"),
        (zlib.compress(TEXT), "deflate"),
        (_raw_deflate(TEXT), "deflate"),
        (gzip.compress(TEXT[:100]) + gzip.compress(TEXT[100:]), "gzip"),
        (TEXT, "identity"),
        (gzip.compress(TEXT), "identity, gzip"),
    ],
)
def test_every_layer_is_undone(encoded: bytes, header: str) -> None:
    assert decode_content(encoded, header, limit=LIMIT) == TEXT


@pytest.mark.parametrize(
    ("encoded", "header"),
    [
        (TEXT, "br"),
        (TEXT, "zstd"),
        (TEXT, "compress"),
        (TEXT, "x-made-up"),
        (gzip.compress(TEXT), "gzip, br"),
        (b"\x1f\x8b not really gzip", "gzip"),
        (gzip.compress(TEXT)[:-12], "gzip"),
        (gzip.compress(TEXT) + b"junk", "gzip"),
        (TEXT, "deflate"),
        (TEXT, ", ".join(["identity"] + ["gzip"] * 5)),
    ],
)
def test_what_cannot_be_undone_is_refused(encoded: bytes, header: str) -> None:
    with pytest.raises(Undecodable):
        decode_content(encoded, header, limit=LIMIT)


def test_output_is_capped() -> None:
    bomb = gzip.compress(b"\0" * (LIMIT + 1))
    with pytest.raises(TooLarge):
        decode_content(bomb, "gzip", limit=LIMIT)
    with pytest.raises(TooLarge):
        decode_content(gzip.compress(bomb), "gzip, gzip", limit=LIMIT)


@pytest.mark.parametrize(
    ("fmt", "encoded"),
    [("bzip2", bz2.compress(TEXT)), ("xz", lzma.compress(TEXT))],
)
def test_inflate_file_formats(fmt: str, encoded: bytes) -> None:
    assert inflate(encoded, fmt, limit=LIMIT) == TEXT


def test_decode_response_reports_instead_of_raising() -> None:
    assert decode_response(TEXT, [], limit=LIMIT) == (TEXT, False, None)
    assert decode_response(gzip.compress(TEXT), ["gzip"], limit=LIMIT) == (TEXT, False, None)
    assert (
        decode_response(gzip.compress(gzip.compress(TEXT)), ["gzip", "gzip"], limit=LIMIT)[0]
        == TEXT
    )
    body, too_large, why = decode_response(TEXT, ["zstd"], limit=LIMIT)
    assert body == TEXT and not too_large and why is not None and "zstd" in why
    assert decode_response(gzip.compress(b"\0" * (LIMIT + 1)), ["gzip"], limit=LIMIT)[1]
