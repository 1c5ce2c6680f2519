"""Response scrubbing against a real tap-proxy: every form, every encoding, or withheld."""

from __future__ import annotations

import base64
import gzip
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.tap import Tap
from tests.support.upstream import Received, Upstream

SECRET = "sk-live-Abc123/+xyz=0987654321"


@pytest.fixture
def demo(tap: Tap) -> str:
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    tap.add_credential(
        "files", SECRET, "--allowed-host", "127.0.0.1", "--allow-unscannable-responses"
    )
    return tap.agent("bot", "--credentials", "demo,files")


def _serve(upstream: Upstream, body: bytes, headers: dict[str, str]) -> None:
    def handler(_: Received) -> web.Response:
        # The body is sent exactly as given; aiohttp must not compress it again.
        response = web.Response(body=body, headers=headers)
        response.enable_compression = lambda *a, **k: None  # type: ignore[method-assign]
        return response

    upstream.handler = handler


def _zip(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def _audit(tap: Tap, at_least: int) -> list[dict[str, Any]]:
    path: Path = tap.tmp / "audit.jsonl"
    deadline = time.monotonic() + 10
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= at_least or time.monotonic() > deadline:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)


LEAK = f"leak {SECRET} end".encode()


ENCODED = {
    "stacked": (gzip.compress(gzip.compress(LEAK)), "gzip, gzip"),
    "x-gzip": (gzip.compress(LEAK), "x-gzip"),
    "with-identity": (gzip.compress(gzip.compress(LEAK)), "gzip, identity, gzip"),
}


def test_every_content_encoding_layer_is_undone_and_scanned(
    tap: Tap, demo: str, upstream: Upstream
) -> None:
    for case, (body, coding) in ENCODED.items():
        _serve(upstream, body, {"Content-Encoding": coding, "Content-Type": "text/plain"})
        response = tap.forward(demo, "demo", upstream.url)
        assert response.status_code == 200, case
        assert response.content == b"leak [REDACTED:demo] end", case
        assert "content-encoding" not in response.headers, case
        # TAP offered only what it can undo.
        assert upstream.received[-1].headers["Accept-Encoding"] == "gzip, deflate"


FORMS = {
    "upper": SECRET.upper(),
    "hex": SECRET.encode().hex(),
    "entities": "".join(f"&#x{ord(c):x};" if i % 2 else c for i, c in enumerate(SECRET)),
    "double-json": json.dumps(json.dumps(SECRET))[3:-3],
    "double-percent": "".join(f"%25{b:02X}" for b in SECRET.encode()),
    "base32": base64.b32encode(SECRET.encode()).decode(),
}


def test_review_gap_forms_are_redacted(tap: Tap, demo: str, upstream: Upstream) -> None:
    for case, form in FORMS.items():
        _serve(upstream, f"<p>{form}</p>".encode(), {"Content-Type": "text/html"})
        response = tap.forward(demo, "demo", upstream.url)
        assert response.status_code == 200, case
        assert response.text == "<p>[REDACTED:demo]</p>", case


LEAKING_FILES = {
    "utf-32": (LEAK.decode().encode("utf-32"), "text/plain; charset=utf-32"),
    "ebcdic": (LEAK.decode().encode("cp500"), "text/plain; charset=ibm500"),
    "zip": (_zip("secret.txt", LEAK), "application/zip"),
    "gzip-file": (gzip.compress(LEAK), "application/gzip"),
}


def test_secrets_in_other_charsets_and_archives_are_withheld(
    tap: Tap, demo: str, upstream: Upstream
) -> None:
    for case, (body, content_type) in LEAKING_FILES.items():
        _serve(upstream, body, {"Content-Type": content_type})
        for credential in ("demo", "files"):  # the opt-out never lets a found secret through
            response = tap.forward(demo, credential, upstream.url)
            assert response.status_code == 200, case
            assert response.json()["error"] == "response_withheld", case
            assert response.headers["content-type"] == "application/json", case


def test_unscannable_bodies_are_withheld_unless_the_credential_allows_them(
    tap: Tap, demo: str, upstream: Upstream
) -> None:
    opaque = b"\x28\xb5\x2f\xfd opaque zstd frame"
    _serve(upstream, opaque, {"Content-Encoding": "zstd", "Content-Type": "application/pdf"})
    withheld = tap.forward(demo, "demo", upstream.url)
    assert withheld.json()["error"] == "response_withheld"
    assert "content-encoding" not in withheld.headers

    passed = tap.forward(demo, "files", upstream.url)
    assert passed.status_code == 200
    assert passed.content == opaque
    assert passed.headers["content-encoding"] == "zstd"

    records = _audit(tap, 2)
    by_credential = {r["credential_names"][0]: r for r in records}
    assert (
        by_credential["demo"]["response_unscannable"] == "content-encoding: no decoder for 'zstd'"
    )
    assert by_credential["demo"]["response_unscannable_allowed"] is False
    assert (
        by_credential["files"]["response_unscannable"]
        == by_credential["demo"]["response_unscannable"]
    )
    assert by_credential["files"]["response_unscannable_allowed"] is True
    # The database row says the same.
    logs = tap.logs(demo, at_least=2)["entries"]
    assert {(e["credential_names"][0], e["response_unscannable_allowed"]) for e in logs} == {
        ("demo", False),
        ("files", True),
    }


def test_scannable_binary_downloads_pass_untouched(tap: Tap, demo: str, upstream: Upstream) -> None:
    archive = _zip("report.csv", b"id,total\n1,2\n")
    _serve(upstream, archive, {"Content-Type": "application/zip"})
    response = tap.forward(demo, "demo", upstream.url)
    assert response.status_code == 200 and response.content == archive
    assert _audit(tap, 1)[-1]["response_unscannable"] is None
