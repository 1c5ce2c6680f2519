"""What approvers are shown: whole header set, safe body rendering, method-override warnings."""

from __future__ import annotations

import base64
import hashlib

from app.approvals import view


def _view(body: bytes) -> view.BodyView:
    return view.body_view(
        body[: view.PREVIEW_BYTES], size=len(body), sha256=hashlib.sha256(body).hexdigest()
    )


def test_text_body_says_when_it_is_cut() -> None:
    short = _view(b'{"amount": 5}')
    assert (short.preview, short.encoding, short.truncated) == ('{"amount": 5}', "utf-8", False)
    long = _view(b"a" * 10_000)
    assert long.truncated and long.size == 10_000 and long.preview == "a" * view.PREVIEW_BYTES


def test_a_cut_through_a_character_is_still_text() -> None:
    body = b"a" * (view.PREVIEW_BYTES - 1) + "é".encode() * 10
    shown = _view(body)
    assert shown.encoding == "utf-8" and shown.truncated
    assert shown.preview == "a" * (view.PREVIEW_BYTES - 1)


def test_binary_and_deceptive_bodies_are_base64() -> None:
    for body in (b"\xff\xfe binary", b"ok\x1b[2Jhidden", "pay \u202e001 ot".encode()):
        shown = _view(body)
        assert shown.encoding == "base64"
        assert base64.b64decode(shown.preview or "") == body
        assert shown.sha256 == hashlib.sha256(body).hexdigest()


def test_empty_body() -> None:
    empty = _view(b"")
    assert (empty.preview, empty.encoding, empty.truncated, empty.size) == (None, None, False, 0)


def test_headers_show_what_goes_upstream_with_secrets_masked() -> None:
    sent = [
        ("Content-Type", "application/json"),
        ("authorization", "Bearer agent-chosen"),
        ("X-Api-Key", "agent-own-key"),
        ("X-Leak", "<CREDENTIAL:stripe>"),
    ]
    shown = view.upstream_headers(sent, ("Authorization",), "stripe")
    assert shown[0] == ("Content-Type", "application/json")
    assert ("X-Leak", "<CREDENTIAL:stripe>") in shown
    assert all("agent-chosen" not in v and "agent-own-key" not in v for _, v in shown)
    assert shown[-1] == ("Authorization", "[set by TAP from credential stripe]")
    assert [n.lower() for n, _ in shown].count("authorization") == 1


def test_method_override_headers_are_flagged() -> None:
    for name in ("X-HTTP-Method-Override", "x-http-method", "X-Method-Override"):
        (warning,) = view.warnings("POST", [(name, "delete")])
        assert warning.code == "method_override" and "DELETE" in warning.message
    assert view.warnings("POST", [("Content-Type", "text/plain")]) == []
