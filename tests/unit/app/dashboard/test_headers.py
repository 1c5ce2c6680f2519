"""Every page TAP serves to a browser gets the same strict headers."""

from __future__ import annotations

from quart import Response

from app.dashboard.headers import PAGE_CSP, harden


def test_harden_sets_a_policy_without_inline_code_and_refuses_framing() -> None:
    response = harden(Response("x"))
    assert response.headers["Content-Security-Policy"] == PAGE_CSP
    assert "unsafe" not in PAGE_CSP and "frame-ancestors 'none'" in PAGE_CSP
    assert "script-src 'self'" in PAGE_CSP and "default-src 'none'" in PAGE_CSP
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_a_page_may_bring_its_own_policy() -> None:
    response = harden(Response("x"), "default-src 'none'; frame-ancestors 'none'")
    assert (
        response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
