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
    SCAN_WINDOW_BYTES,
    WITHHELD_BODY,
    Sanitizer,
    credential_secret_pairs,
    needles_for,
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


# -- forms added after the security review (issue 11, finding 11) -----------------------


def _entities(text: str, style: str) -> str:
    out = []
    for i, char in enumerate(text):
        if style == "dec":
            out.append(f"&#{ord(char)};")
        elif style == "hex":
            out.append(f"&#x{ord(char):x};")
        elif style == "HEX":
            out.append(f"&#X{ord(char):04X}")
        else:  # every other character, mixed decimal and hex
            out.append(char if i % 2 else (f"&#{ord(char)};" if i % 4 else f"&#x{ord(char):x};"))
    return "".join(out)


def _b32_inside(prefix: bytes, secret: str) -> str:
    return base64.b32encode(prefix + secret.encode() + b"!tail").decode()


GAP_SECRET = "sk_live_Gap0123/Secret+Value"
GAP_FORMS = {
    # case-changed text and hex
    "upper": GAP_SECRET.upper(),
    "lower": GAP_SECRET.lower(),
    "swapcase": GAP_SECRET.swapcase(),
    "hex": GAP_SECRET.encode().hex(),
    "HEX": GAP_SECRET.encode().hex().upper(),
    "backslash-x": "".join(f"\\x{b:02x}" for b in GAP_SECRET.encode()),
    # HTML/XML character references, whole and mixed with plain characters
    "entity-dec": _entities(GAP_SECRET, "dec"),
    "entity-hex": _entities(GAP_SECRET, "hex"),
    "entity-HEX-no-semicolon": _entities(GAP_SECRET, "HEX"),
    "entity-mixed": _entities(GAP_SECRET, "mixed"),
    "entity-named": GAP_SECRET.replace("/", "&sol;").replace("+", "&plus;"),
    "entity-of-entity": _entities(GAP_SECRET, "dec").replace("&", "&amp;"),
    # JSON escaping inside JSON, one character escaped, every character escaped
    "double-json": json.dumps(json.dumps(GAP_SECRET))[3:-3],
    "json-one-char": GAP_SECRET.replace("G", "\\u0047"),
    "json-every-char": "".join(f"\\u{ord(c):04x}" for c in GAP_SECRET),
    "json-upper-hex-mixed": "".join(
        f"\\u{ord(c):04X}" if i % 3 == 0 else c for i, c in enumerate(GAP_SECRET)
    ),
    # percent-encoding twice, and mixed with plain characters
    "double-percent": quote(quote(GAP_SECRET, safe=""), safe=""),
    "percent-every-byte": "".join(f"%{b:02x}" for b in GAP_SECRET.encode()),
    "percent-some": GAP_SECRET.replace("s", "%73").replace("V", "%56"),
    "percent-of-json": quote(json.dumps(GAP_SECRET)[1:-1].replace("/", "\\/"), safe=""),
    # base32, alone and inside longer base32 at every alignment
    "base32": base64.b32encode(GAP_SECRET.encode()).decode(),
    "base32-unpadded-lower": base64.b32encode(GAP_SECRET.encode()).decode().rstrip("=").lower(),
    **{f"base32-inside-{n}": _b32_inside(b"x" * n, GAP_SECRET) for n in range(5)},
}


@pytest.mark.parametrize("automaton", MATCHERS)
@pytest.mark.parametrize("form", list(GAP_FORMS))
def test_review_gap_forms_are_redacted(automaton: bool, form: str) -> None:
    sanitizer = Sanitizer.for_secrets([(LABEL, GAP_SECRET)], use_automaton=automaton)
    encoded = GAP_FORMS[form]
    body = ('{"echo":"<' + encoded + '>","n":1}').encode()
    result = sanitizer.redact_body(body, "application/json")
    assert result.sanitized and not result.withheld
    assert encoded.encode() not in result.body
    assert result.body.startswith(b'{"echo":"<') and result.body.endswith(b'>","n":1}')
    assert MARKER in result.body
    # Nothing that decodes to the secret is left: scan the output again.
    assert sanitizer.redact_body(result.body, "application/json").sanitized is False


def test_mixed_escapes_replace_whole_escapes_only() -> None:
    sanitizer = Sanitizer.for_secrets([("k", "abcdef123")])
    body = b"x &amp; &#97;b%63d\\u0065f123 &lt;y&gt; 100%"
    result = sanitizer.redact_body(body, "text/html")
    assert result.body == b"x &amp; [REDACTED:k] &lt;y&gt; 100%"


def test_headers_get_the_same_forms() -> None:
    sanitizer = Sanitizer.for_secrets([("k", "sk-verysecret")])
    headers, changed = sanitizer.redact_headers([("X-Echo", "&#115;K-VERYsecret")])
    assert changed and headers == [("X-Echo", "[REDACTED:k]")]


def _zip(members: dict[str, bytes], *, method: int = 8) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


SECRET_TEXT = "echo sk-verysecret"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        # charsets other than UTF-8, declared or marked by a byte-order mark
        (SECRET_TEXT.encode("utf-32-le"), "text/plain; charset=utf-32le"),
        (SECRET_TEXT.encode("utf-32"), "text/plain; charset=utf-32"),
        (SECRET_TEXT.encode("utf-32"), None),
        (SECRET_TEXT.encode("utf-16"), "application/json"),
        (SECRET_TEXT.encode("cp500"), "text/plain; charset=IBM500"),
        (SECRET_TEXT.encode("cp037"), "text/plain; charset=ebcdic-cp-us"),
        (SECRET_TEXT.upper().encode("cp037"), "text/plain; charset=cp037"),
        # archives and compressed files
        (_gzip(SECRET_TEXT.encode()), "application/gzip"),
        (_gzip(_gzip(SECRET_TEXT.encode())), "application/octet-stream"),
        (_zip({"a.txt": b"nothing", "b/leak.txt": SECRET_TEXT.encode()}), "application/zip"),
        (_zip({"leak.txt": SECRET_TEXT.encode()}, method=12), None),
        (_zip({"inner.zip": _zip({"leak.txt": SECRET_TEXT.encode()})}), "application/zip"),
        (_zip({"x.gz": _gzip(SECRET_TEXT.encode())}, method=0), "application/java-archive"),
        (__import__("bz2").compress(SECRET_TEXT.encode()), "application/x-bzip2"),
        (__import__("lzma").compress(SECRET_TEXT.encode()), "application/x-xz"),
    ],
)
def test_secrets_in_other_charsets_and_archives_are_withheld(
    body: bytes, content_type: str | None
) -> None:
    result = Sanitizer.for_secrets([("k", "sk-verysecret")]).redact_body(body, content_type)
    assert result.withheld and result.body == WITHHELD_BODY
    # The opt-out is for bodies that cannot be scanned, not for ones that leak.
    allowed = Sanitizer.for_secrets([("k", "sk-verysecret")]).redact_body(
        body, content_type, allow_unscannable=True
    )
    assert allowed.withheld


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"\x28\xb5\x2f\xfd" + b"\x00" * 20, "application/zstd", "zstd"),
        (b"7z\xbc\xaf\x27\x1c" + b"\x00" * 20, "application/x-7z-compressed", "7z"),
        (b"Rar!\x1a\x07\x00rest", None, "rar"),
        (b"not a zip at all", "application/zip", "not an archive"),
        (b"\x1f\x8b\x08\x00garbage", "application/gzip", "gzip"),
        (b"abc", "text/plain; charset=x-unknown-charset", "unknown charset"),
        (b"\xff\xfe\x00", "text/plain; charset=utf-16le", "not valid"),
        (b"abc", "text/plain; charset=base64", "unknown charset"),
    ],
)
def test_unscannable_bodies_are_withheld_unless_allowed(
    body: bytes, content_type: str, reason: str
) -> None:
    sanitizer = Sanitizer.for_secrets([("k", "sk-verysecret")])
    withheld = sanitizer.redact_body(body, content_type)
    assert withheld.withheld and withheld.unscannable is not None
    assert reason in withheld.unscannable
    allowed = sanitizer.redact_body(body, content_type, allow_unscannable=True)
    assert not allowed.withheld and allowed.body == body
    assert allowed.unscannable_allowed and allowed.unscannable == withheld.unscannable


def test_encrypted_and_oversized_archives_are_unscannable() -> None:
    from app.proxy.body_views import MAX_EXPANDED_BYTES

    sanitizer = Sanitizer.for_secrets([("k", "sk-verysecret")])
    bomb = _gzip(b"\0" * (MAX_EXPANDED_BYTES + 1))
    result = sanitizer.redact_body(bomb, "application/gzip")
    assert result.withheld and "scan limit" in (result.unscannable or "")
    encrypted = bytearray(_zip({"a.txt": b"hello"}, method=0))
    encrypted[6] |= 1  # the "encrypted" flag of the local header ...
    central = encrypted.rfind(b"PK\x01\x02")
    encrypted[central + 8] |= 1  # ... and of the central directory entry
    result = sanitizer.redact_body(bytes(encrypted), "application/zip")
    assert result.withheld and "encrypted" in (result.unscannable or "")


def test_clean_archives_and_text_in_other_charsets_pass() -> None:
    sanitizer = Sanitizer.for_secrets([("k", "sk-verysecret")])
    for body, content_type in [
        (_zip({"a.txt": b"hello"}), "application/zip"),
        (_gzip(b"hello"), "application/gzip"),
        ("hello".encode("utf-32"), "text/plain; charset=utf-32"),
        ("BZh text that is not bzip2", "text/plain"),
    ]:
        raw = body.encode() if isinstance(body, str) else body
        result = sanitizer.redact_body(raw, content_type)
        assert not result.withheld and result.body == raw and result.unscannable is None


def test_a_known_undecodable_body_is_withheld_unless_allowed() -> None:
    sanitizer = Sanitizer.for_secrets([("k", "sk-verysecret")])
    body = b"opaque bytes"
    withheld = sanitizer.redact_body(body, "text/plain", unscannable="content-encoding: zstd")
    assert withheld.withheld and withheld.unscannable == "content-encoding: zstd"
    allowed = sanitizer.redact_body(
        body, "text/plain", unscannable="content-encoding: zstd", allow_unscannable=True
    )
    assert allowed.body == body and allowed.unscannable_allowed
    leaking = sanitizer.redact_body(
        b"sk-verysecret", "text/plain", unscannable="content-encoding: zstd", allow_unscannable=True
    )
    assert leaking.withheld


# -- long bodies are scanned in windows ----------------------------------------------


@pytest.mark.parametrize("automaton", MATCHERS)
def test_a_secret_across_every_window_boundary_offset_is_redacted(automaton: bool) -> None:
    sanitizer = Sanitizer.for_secrets([(LABEL, SECRET)], use_automaton=automaton)
    secret = SECRET.encode().upper()  # ASCII case does not matter in any window
    filler = b"x" * (2 * SCAN_WINDOW_BYTES)
    for shift in range(-len(secret), 1):
        at = SCAN_WINDOW_BYTES + shift
        body = filler[:at] + secret + filler[at:]
        result = sanitizer.redact_body(body, "text/plain")
        assert result.body == filler[:at] + MARKER + filler[at:], shift


@pytest.mark.parametrize("automaton", MATCHERS)
def test_the_longest_form_across_every_window_boundary_offset_is_found(automaton: bool) -> None:
    sanitizer = Sanitizer.for_secrets([(LABEL, SECRET)], use_automaton=automaton)
    longest = needles_for(SECRET)[0]
    assert len(longest) == sanitizer.longest_needle
    filler = b"x" * (2 * SCAN_WINDOW_BYTES)
    for shift in range(-len(longest), 1):
        at = SCAN_WINDOW_BYTES + shift
        spans = {
            (start, end) for _, start, end in sanitizer.find(filler[:at] + longest + filler[at:])
        }
        assert (at, at + len(longest)) in spans, shift


@pytest.mark.parametrize("automaton", MATCHERS)
def test_overlapping_forms_at_a_window_boundary_are_reported_once(automaton: bool) -> None:
    sanitizer = Sanitizer.for_secrets([(LABEL, SECRET)], use_automaton=automaton)
    secret = SECRET.encode()
    at = SCAN_WINDOW_BYTES - len(secret) // 2
    body = b"y" * at + secret + secret + b"y" * SCAN_WINDOW_BYTES
    matches = sanitizer.find(body)
    assert len(matches) == len(set(matches))
    assert sorted(m[1] for m in matches if m[2] - m[1] == len(secret)) == [
        at,
        at + len(secret),
    ]
    assert sanitizer.redact_body(body, "text/plain").body == (
        b"y" * at + MARKER + MARKER + b"y" * SCAN_WINDOW_BYTES
    )


@pytest.mark.parametrize("automaton", MATCHERS)
def test_a_secret_in_the_last_bytes_of_the_largest_body_is_redacted(automaton: bool) -> None:
    sanitizer = Sanitizer.for_secrets([(LABEL, SECRET)], use_automaton=automaton)
    tail = base64.b64encode(SECRET.encode())
    body = b"z" * (MAX_SCAN_BYTES - len(tail)) + tail
    result = sanitizer.redact_body(body, "application/json")
    assert result.sanitized and not result.withheld
    assert result.body == b"z" * (MAX_SCAN_BYTES - len(tail)) + MARKER
