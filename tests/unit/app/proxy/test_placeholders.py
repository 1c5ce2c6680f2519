"""Tests for app.proxy.placeholders: syntax, positions and substitution."""

from __future__ import annotations

import pytest

from app.errors import CredentialMisconfigured, PlaceholderViolation
from app.proxy.placeholders import check_positions, find_placeholders, substitute
from app.secret import Secret
from app.store.models import AuthBinding
from tests.support.factories import make_credential

CREDENTIALS = {
    "gh": make_credential(name="gh"),
    "dd": make_credential(
        name="dd",
        auth_bindings=(AuthBinding("DD-API-KEY", "{value.api_key}"),),
    ),
}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # plain and field references, several per header
        ("Bearer <CREDENTIAL:gh>", [("gh", None)]),
        ("<CREDENTIAL:dd.api_key>:<CREDENTIAL:dd.app_key>", [("dd", "api_key"), ("dd", "app_key")]),
        ("<CREDENTIAL:A_b-9>", [("A_b-9", None)]),
        # not placeholders: forwarded literally
        ("<CREDENTIAL:>", []),
        ("<CREDENTIAL>", []),
        ("<CREDENTIAL:gh", []),
        ("<CREDENTIAL:g h>", []),
        ("<credential:gh>", []),
        ("<CREDENTIAL:gh.>", []),
    ],
)
def test_syntax(text: str, found: list[tuple[str, str | None]]) -> None:
    assert find_placeholders(text) == found


@pytest.mark.parametrize(
    "headers",
    [
        # plain references in the default auth headers (any case)
        [("Authorization", "Bearer <CREDENTIAL:gh>")],
        [("x-api-key", "<CREDENTIAL:gh>")],
        [("X-Auth-Token", "<CREDENTIAL:gh>")],
        # unknown credentials are judged by the defaults
        [("Authorization", "<CREDENTIAL:unknown>")],
        # a bound credential's plain reference in its bound header
        [("dd-api-key", "<CREDENTIAL:dd>")],
        # field references anywhere
        [("X-Custom", "<CREDENTIAL:dd.api_key>")],
        [("Cookie", "s=<CREDENTIAL:gh.session>")],
    ],
)
def test_allowed_positions(headers: list[tuple[str, str]]) -> None:
    refs = check_positions(headers, CREDENTIALS, target="https://h.example/x", body=b"{}")
    assert len(refs) == 1


@pytest.mark.parametrize(
    ("headers", "target", "body", "where"),
    [
        # plain references outside auth headers
        ([("X-Custom", "<CREDENTIAL:gh>")], "https://h.example/", b"", "header 'X-Custom'"),
        ([("Cookie", "<CREDENTIAL:gh>")], "https://h.example/", b"", "header 'Cookie'"),
        # with bindings, Authorization is no longer an auth header for it
        (
            [("Authorization", "<CREDENTIAL:dd>")],
            "https://h.example/",
            b"",
            "header 'Authorization'",
        ),
        # placeholders in a header name
        ([("<CREDENTIAL:gh>", "x")], "https://h.example/", b"", "name of header"),
        # URL, query, encoded forms
        ([], "https://h.example/<CREDENTIAL:gh>", b"", "the URL"),
        ([], "https://h.example/%3CCREDENTIAL:gh%3E", b"", "the URL"),
        ([], "https://h.example/x?k=<CREDENTIAL:gh>", b"", "the query string"),
        ([], "https://h.example/x?k=%3CCREDENTIAL%3Agh.f%3E", b"", "the query string"),
        # the body, whatever the content
        ([], "https://h.example/", b'{"token":"<CREDENTIAL:gh>"}', "the request body"),
        ([], "https://h.example/", b"a=1&t=<CREDENTIAL:gh.f>", "the request body"),
        ([], "https://h.example/", b"\xff\xfe<CREDENTIAL:gh>\x00", "the request body"),
    ],
)
def test_violations_say_where(
    headers: list[tuple[str, str]], target: str, body: bytes, where: str
) -> None:
    with pytest.raises(PlaceholderViolation) as info:
        check_positions(headers, CREDENTIALS, target=target, body=body)
    assert where in info.value.message
    assert "Credential 'gh'" in info.value.message or "Credential 'dd'" in info.value.message


VALUES = {
    "gh": Secret("ghp_secret"),
    "dd": Secret('{"api_key":"k1","app_key":"k2","n":3}'),
    "empty": Secret(""),
}


@pytest.mark.parametrize(
    ("value", "expected", "injected"),
    [
        # plain and field references are replaced
        ("Bearer <CREDENTIAL:gh>", "Bearer ghp_secret", (("gh", "ghp_secret"),)),
        (
            "<CREDENTIAL:dd.api_key>/<CREDENTIAL:dd.app_key>",
            "k1/k2",
            (("dd.api_key", "k1"), ("dd.app_key", "k2")),
        ),
        # a JSON-object value is never injected by a plain reference
        ("<CREDENTIAL:dd>", "<CREDENTIAL:dd>", ()),
        # missing or non-string fields, fields of plain values, unknown and empty stay literal
        ("<CREDENTIAL:dd.nope>", "<CREDENTIAL:dd.nope>", ()),
        ("<CREDENTIAL:dd.n>", "<CREDENTIAL:dd.n>", ()),
        ("<CREDENTIAL:gh.field>", "<CREDENTIAL:gh.field>", ()),
        ("<CREDENTIAL:other>", "<CREDENTIAL:other>", ()),
        ("<CREDENTIAL:empty>", "<CREDENTIAL:empty>", ()),
    ],
)
def test_substitute(value: str, expected: str, injected: tuple[tuple[str, str], ...]) -> None:
    result = substitute([("Authorization", value), ("Accept", "x")], VALUES)
    assert list(result.headers) == [("Authorization", expected), ("Accept", "x")]
    assert result.injected == injected


def test_substitute_refuses_header_splitting_values() -> None:
    with pytest.raises(CredentialMisconfigured) as info:
        substitute([("Authorization", "<CREDENTIAL:x>")], {"x": Secret("abc\r\nX-Evil: 1")})
    assert "abc" not in info.value.message
