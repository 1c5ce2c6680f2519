"""Tests for attestation/_base64.py."""

from __future__ import annotations

import pytest

from attestation._base64 import b64_decode, b64url_decode, b64url_encode


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xfe", b"abc", b"\xfb\xff\xbf"])
def test_b64url_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@pytest.mark.parametrize(
    "text",
    [
        "AQAB=",  # padding
        "A",  # impossible length
        "AB+/",  # standard alphabet
        "AB C",  # whitespace
        "AR",  # non-zero trailing bits (canonical is "AQ")
    ],
)
def test_b64url_refusals(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)


def test_b64_decodes_standard_base64() -> None:
    assert b64_decode("cGFja2FnZQ==") == b"package"


@pytest.mark.parametrize(
    "text",
    [
        "cGFja2FnZQ",  # missing padding
        "cGFja2FnZQ===",  # extra padding
        "cGFja2Fn ZQ==",  # whitespace
        "cGFja2FnZR==",  # non-zero trailing bits
        "cGFja2FnZQ-_",  # url alphabet
    ],
)
def test_b64_refusals(text: str) -> None:
    with pytest.raises(ValueError):
        b64_decode(text)
