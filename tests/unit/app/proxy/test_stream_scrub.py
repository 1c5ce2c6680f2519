"""Tests for app.proxy.stream_scrub: a secret split at every chunk boundary is still scrubbed."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from app.proxy.sanitize import Sanitizer, needles_for
from app.proxy.stream_scrub import StreamCut, StreamScrubber
from tests.unit.app.proxy.test_sanitize import ENCODINGS, LABEL, MARKER, SECRET

SANITIZER = Sanitizer.for_secrets([(LABEL, SECRET)])

FORMS = sorted(
    {form.encode() for form in ENCODINGS}
    | set(needles_for(SECRET))
    | {
        # every character a hex or decimal character reference, ";" sometimes left out
        "".join(f"&#x{ord(c):x};" for c in SECRET).encode(),
        "".join(f"&#{ord(c)}" + ("" if i % 2 else ";") for i, c in enumerate(SECRET)).encode(),
        # percent-encoded twice, JSON-escaped twice and three times
        quote(quote(SECRET, safe=""), safe="").encode(),
        json.dumps(json.dumps(SECRET))[1:-1].encode(),
        json.dumps(json.dumps(json.dumps(SECRET)))[1:-1].encode(),
        # an escape that is itself escaped, in front of the rest
        ("&amp;#x73;" + SECRET[1:]).encode(),
        # upper case
        SECRET.upper().encode(),
    }
)


def _event(form: bytes) -> bytes:
    return b'data: {"echo":"' + form + b'","n":1}\n\n'


def _streamed(chunks: list[bytes]) -> bytes:
    scrubber = StreamScrubber(SANITIZER)
    return b"".join(scrubber.feed(chunk) for chunk in chunks) + scrubber.finish()


def _assert_scrubbed(out: bytes, body: bytes) -> None:
    whole = SANITIZER.redact_body(body, "text/event-stream")
    if whole.withheld:
        # UTF-16/32 forms: a buffered body with NULs is withheld; streamed, the
        # form is redacted where it stands (the relay cuts such a stream).
        assert out == _event(MARKER)
    else:
        assert out == whole.body
    lowered = out.lower()
    assert not any(needle.lower() in lowered for needle in needles_for(SECRET))


@pytest.mark.parametrize("form", FORMS, ids=range(len(FORMS)))
def test_a_secret_split_at_every_boundary_is_scrubbed(form: bytes) -> None:
    body = _event(form)
    for cut in range(len(body) + 1):
        _assert_scrubbed(_streamed([body[:cut], body[cut:]]), body)


@pytest.mark.parametrize("form", FORMS, ids=range(len(FORMS)))
def test_a_secret_sent_byte_by_byte_is_scrubbed(form: bytes) -> None:
    body = _event(form)
    _assert_scrubbed(_streamed([body[i : i + 1] for i in range(len(body))]), body)


@pytest.mark.parametrize("form", FORMS[:10], ids=range(10))
def test_a_secret_split_in_three_anywhere_is_scrubbed(form: bytes) -> None:
    body = _event(form)
    for first in range(len(body) + 1):
        for second in range(first, len(body) + 1, 5):
            _assert_scrubbed(_streamed([body[:first], body[first:second], body[second:]]), body)


def test_an_event_without_a_partial_form_is_sent_at_once() -> None:
    scrubber = StreamScrubber(SANITIZER)
    event = b'data: {"delta":{"content":" hello \\"world\\"\\n"}}\n\n'
    assert scrubber.feed(event) == event
    assert scrubber.held == 0


@pytest.mark.parametrize(
    ("tail", "held"),
    [
        # the start of the secret: held until it can be told apart
        (SECRET[:5].encode(), 5),
        # a character reference still being written
        (b"&#x7", 4),
        # a percent-escape cut after its first digit
        (b"%2", 2),
        # a high surrogate whose low half may follow
        (b"\\ud83d", 6),
    ],
)
def test_only_what_could_still_become_a_secret_is_held(tail: bytes, held: int) -> None:
    scrubber = StreamScrubber(SANITIZER)
    assert scrubber.feed(b"data: x " + tail) == b"data: x "
    assert scrubber.held == held
    assert scrubber.finish() == tail


def test_the_held_tail_never_exceeds_the_longest_form_for_plain_text() -> None:
    longest = SANITIZER.longest_needle
    body = _event(SECRET.encode()) * 3
    scrubber = StreamScrubber(SANITIZER)
    for byte in range(len(body)):
        scrubber.feed(body[byte : byte + 1])
        assert scrubber.held < longest


def test_a_held_tail_past_the_limit_cuts_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    # No text reaches the real limit (the tail is bounded by the longest form,
    # expanded by the escapes of three decoded layers); the guard still holds.
    monkeypatch.setattr("app.proxy.stream_scrub.MAX_HELD_BYTES", 4)
    scrubber = StreamScrubber(SANITIZER)
    with pytest.raises(StreamCut):
        scrubber.feed(b"data: " + SECRET[:6].encode())


def test_redaction_is_reported() -> None:
    scrubber = StreamScrubber(SANITIZER)
    scrubber.feed(b"a " + SECRET.encode()[:4])
    assert not scrubber.sanitized
    scrubber.feed(SECRET.encode()[4:] + b" b")
    scrubber.finish()
    assert scrubber.sanitized


def test_no_secrets_passes_everything_through() -> None:
    scrubber = StreamScrubber(Sanitizer.for_secrets([]))
    assert scrubber.feed(b"&#x7") == b"&#x7"
    assert scrubber.finish() == b""
