"""Tests for app.proxy.sanitize: every encoding of every secret, and withholding."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from app.proxy.sanitize import (
    HAVE_AUTOMATON,
    MAX_SCAN_BYTES,
    WITHHELD_BODY,
    Sanitizer,
    credential_secret_pairs,
)

SECRET = "sk_live/Ab+9 x?&<é"
LABEL = "stripe"
MARKER = b"[REDACTED:stripe]"

MATCHERS = [pytest.param(True, id="automaton"), pytest.param(False, id="find")]
if not HAVE_AUTOMATON:
    MATCHERS = [pytest.param(False, id="find")]


def _b64_inside(prefix: bytes, secret: str, suffix: bytes, alphabet: str = "std") -> str:
    encoded = base64.b64encode(prefix + secret.encode() + suffix).decode()
    if alphabet == "url":
        encoded = encoded.replace("+", "-").replace("/", "_").rstrip("=")
    return encoded


def _json_all_escaped(secret: str, upper: bool = False) -> str:
    units = secret.encode("utf-16-be")
    text = "".join(
        f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2)
    )
    return text.upper().replace("\\U", "\\u") if upper else text


ENCODINGS = [
    # exact
    SECRET,
    # base64 and base64url, padded and not
    base64.b64encode(SECRET.encode()).decode(),
    base64.b64encode(SECRET.encode()).decode().rstrip("="),
    base64.urlsafe_b64encode(SECRET.encode()).decode(),
    base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
    # percent-encoding: quote / quote_plus, upper and lower hex
    quote(SECRET, safe=""),
    re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(SECRET, safe="")),
    quote(SECRET),
    quote_plus(SECRET),
    "".join(f"%{b:02x}" for b in SECRET.encode()),
    # JSON escaping
    json.dumps(SECRET)[1:-1],
    json.dumps(SECRET, ensure_ascii=False)[1:-1],
    json.dumps(SECRET)[1:-1].replace("/", "\\/"),
    _json_all_escaped(SECRET),
    _json_all_escaped(SECRET, upper=True),
]


@pytest.mark.parametrize("automaton", MATCHERS)
@pytest.mark.parametrize("form", ENCODINGS)
def test_every_encoding_is_redacted(automaton: bool, form: str) -> None:
    sanitizer = Sanitizer.for_secrets([(LABEL, SECRET)], use_automaton=automaton)
    body = ('{"echo":"' + form + '","n":1}').encode()
    result = sanitizer.redact_body(body, "application/json; charset=utf-8")
    assert result.sanitized and not result.withheld
    assert result.body == b'{"echo":"' + MARKER + b'","n":1}'


@pytest.mark.parametrize("automaton", MATCHERS)
@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b"abcd"])
@pytest.mark.parametrize("alphabet", ["std", "url"])
def test_base64_inside_longer_text_at_every_alignment(
    automaton: bool, prefix: bytes, alphabet: str
) -> None:
    secret = "ghp_0123456789abcdefXYZ"
    sanitizer = Sanitizer.for_secrets([("gh", secret)], use_automaton=automaton)
    encoded = _b64_inside(b"Basic " + prefix, secret, b":trailer", alphabet)
    result = sanitizer.redact_body(encoded.encode(), "text/plain")
    assert result.sanitized
    assert b"[REDACTED:gh]" in result.body
    # at most one boundary character on each side mixes secret and neighbour bits
    remaining = result.body.replace(b"[REDACTED:gh]", b"")
    assert len(remaining) <= len(encoded) - (len(secret) * 4 // 3) + 2


@pytest.mark.parametrize("automaton", MATCHERS)
@pytest.mark.parametrize(
    ("pairs", "body", "expected"),
    [
        # several secrets and labels in one pass
        (
            [("a", "alpha-secret"), ("b.f", "bravo-secret")],
            b"x alpha-secret y bravo-secret z",
            b"x [REDACTED:a] y [REDACTED:b.f] z",
        ),
        # overlapping secrets leave no fragment behind
        ([("a", "abcdefgh"), ("b", "efghijkl")], b"<abcdefghijkl>", b"<[REDACTED:a]>"),
        # repeated occurrences
        ([("a", "zzzz1234")], b"zzzz1234zzzz1234", b"[REDACTED:a][REDACTED:a]"),
        # short secrets: exact form only
        ([("pin", "42")], b"42 NDI= 42", b"[REDACTED:pin] NDI= [REDACTED:pin]"),
        # empty secrets are ignored
        ([("e", "")], b"anything", b"anything"),
        # nothing to find
        ([("a", "alpha-secret")], b"clean body", b"clean body"),
    ],
)
def test_text_bodies(
    automaton: bool, pairs: list[tuple[str, str]], body: bytes, expected: bytes
) -> None:
    result = Sanitizer.for_secrets(pairs, use_automaton=automaton).redact_body(body, None)
    assert result.body == expected
    assert result.sanitized is (expected != body)
    assert not result.withheld


@pytest.mark.parametrize("automaton", MATCHERS)
@pytest.mark.parametrize(
    ("body", "content_type", "withheld"),
    [
        # binary types with any secret form are withheld
        (b"\x89PNG\x00sk-verysecret\x00", "image/png", True),
        (b"\x00\x01" + base64.b64encode(b"sk-verysecret"), "application/octet-stream", True),
        # UTF-16 text is not UTF-8: withheld when the secret is in it
        ("echo sk-verysecret".encode("utf-16-le"), "text/plain; charset=utf-16", True),
        ("echo sk-verysecret".encode("utf-16-be"), None, True),
        # undecodable "text"
        (b"\xff\xfe sk-verysecret", "text/plain", True),
        # other charsets are not scanned as UTF-8 text
        (b"sk-verysecret", "text/plain; charset=iso-8859-1", True),
        # NUL bytes mark binary even under a text type
        (b"sk-verysecret\x00", "text/plain", True),
        # binary bodies without a secret pass untouched
        (b"\x89PNG\x00\x01\x02", "image/png", False),
    ],
)
def test_binary_bodies(
    automaton: bool, body: bytes, content_type: str | None, withheld: bool
) -> None:
    sanitizer = Sanitizer.for_secrets([("k", "sk-verysecret")], use_automaton=automaton)
    result = sanitizer.redact_body(body, content_type)
    assert result.withheld is withheld
    assert result.body == (WITHHELD_BODY if withheld else body)
    assert result.sanitized is withheld


def test_withheld_notice_is_json() -> None:
    notice = json.loads(WITHHELD_BODY)
    assert notice["error"] == "response_withheld"


@pytest.mark.parametrize(
    ("pairs", "withheld"),
    [
        # over the cap nothing is scanned: withheld whenever secrets are in play
        ([("k", "sk-verysecret")], True),
        ([], False),
    ],
)
def test_oversized_bodies(pairs: list[tuple[str, str]], withheld: bool) -> None:
    body = b"a" * (MAX_SCAN_BYTES + 1)
    result = Sanitizer.for_secrets(pairs).redact_body(body, "text/plain")
    assert result.withheld is withheld


@pytest.mark.parametrize("automaton", MATCHERS)
def test_headers_are_redacted(automaton: bool) -> None:
    sanitizer = Sanitizer.for_secrets([("k", "sk-verysecret")], use_automaton=automaton)
    headers, changed = sanitizer.redact_headers(
        [
            ("X-Echo", "Bearer sk-verysecret"),
            ("Location", "https://h/?t=" + quote("sk-verysecret")),
            ("Content-Type", "text/plain"),
        ]
    )
    assert changed
    assert headers == [
        ("X-Echo", "Bearer [REDACTED:k]"),
        ("Location", "https://h/?t=[REDACTED:k]"),
        ("Content-Type", "text/plain"),
    ]
    assert sanitizer.redact_headers([("A", "b")]) == ([("A", "b")], False)


def test_credential_secret_pairs() -> None:
    assert credential_secret_pairs("dd", '{"b":"2","a":"1","n":3,"e":""}') == [
        ("dd", '{"b":"2","a":"1","n":3,"e":""}'),
        ("dd.a", "1"),
        ("dd.b", "2"),
    ]
    assert credential_secret_pairs("gh", "tok") == [("gh", "tok")]
