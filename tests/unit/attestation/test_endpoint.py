"""Tests for attestation/_endpoint.py."""

from __future__ import annotations

import pytest

from attestation import InputError, Origin


@pytest.mark.parametrize(
    ("text", "url"),
    [
        # bare host, as the SKR sidecar is configured
        ("sharedeus.eus.attest.azure.net", "https://sharedeus.eus.attest.azure.net"),
        # URL with or without a trailing slash, any host case, default port dropped
        ("https://sharedeus.eus.attest.azure.net/", "https://sharedeus.eus.attest.azure.net"),
        ("https://MAA.Example", "https://maa.example"),
        ("https://maa.example:443", "https://maa.example"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_parse(text: str, url: str) -> None:
    assert Origin.parse(text).url == url


@pytest.mark.parametrize(
    "text",
    [
        "http://maa.example",  # plain HTTP
        "ftp://maa.example",
        "https://maa.example/path",
        "https://maa.example?x=1",
        "https://maa.example#f",
        "https://user:pw@maa.example",
        "https://",
        "https://maa.example:",
        "https://maa.example:99999",
        "https://ma a.example",
        "https://mäa.example",
        "https://-maa.example",
    ],
)
def test_parse_refusals(text: str) -> None:
    with pytest.raises(InputError):
        Origin.parse(text)


def test_constructor_requires_the_canonical_form() -> None:
    assert Origin("https://maa.example").url == "https://maa.example"
    with pytest.raises(InputError):
        Origin("https://maa.example/")


@pytest.mark.parametrize(
    ("url", "owned"),
    [
        ("https://maa.example/certs", True),
        ("https://maa.example:443/certs", True),
        ("https://MAA.example/certs", True),
        ("http://maa.example/certs", False),
        ("https://maa.example.evil/certs", False),
        ("https://evil.example/maa.example/certs", False),
        ("https://maa.example:8443/certs", False),
        ("https://maa.example@evil.example/certs", False),
        ("//maa.example/certs", False),
    ],
)
def test_owns(url: str, owned: bool) -> None:
    assert Origin.parse("https://maa.example").owns(url) is owned
