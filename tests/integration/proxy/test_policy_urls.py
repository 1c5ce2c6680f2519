"""Policy URL rules against a real tap-proxy: a require rule holds however the path is spelled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tap import Tap, start_tap
from tests.support.upstream import Upstream

SECRET = "ghp_policyTestSecret0123456789"

DODGES = [
    "/repos/ACME/prod/hooks",
    "/repos/acme/Prod/hooks",
    "/repos/acme/prod;x/hooks",
    "/repos/acme/prod%2Fhooks",
    "/repos/acme/prod.git",
    "/repos/acme/prod%20",
    "/repos/acme/prod%252Fhooks",
]


@pytest.fixture
def gated_key(tap: Tap) -> str:
    tap.add_credential("gh", SECRET, "--allowed-host", "127.0.0.1")
    key = tap.agent("bot", "--credentials", "gh")
    tap.ok(
        "policy",
        "set",
        "gh",
        "--auto-approve-methods",
        "GET,POST",
        "--require-approval-urls",
        "/repos/acme/prod",
        "--auto-approve-urls",
        "/repos/acme/docs",
    )
    return key


def test_require_rule_holds_for_every_spelling(
    tap: Tap, gated_key: str, upstream: Upstream
) -> None:
    for path in DODGES:
        response = tap.forward(gated_key, "gh", upstream.url + path, method="POST")
        assert response.status_code == 202, (path, response.text)
    assert upstream.received == []
    # The same rule leaves other repositories alone.
    response = tap.forward(gated_key, "gh", upstream.url + "/repos/acme/production", method="POST")
    assert response.status_code == 200
    assert [r.path for r in upstream.received] == ["/repos/acme/production"]


def test_auto_rule_needs_the_exact_spelling(tap: Tap, gated_key: str, upstream: Upstream) -> None:
    exact = tap.forward(gated_key, "gh", upstream.url + "/repos/acme/docs/x", method="DELETE")
    assert exact.status_code == 200
    other_case = tap.forward(gated_key, "gh", upstream.url + "/repos/acme/DOCS/x", method="DELETE")
    assert other_case.status_code == 202
    assert [r.path for r in upstream.received] == ["/repos/acme/docs/x"]


@pytest.fixture
def uncached_tap(tmp_path: Path, database_url: str) -> Iterator[Tap]:
    """A TAP that reads the policy from Postgres on every request (no per-worker cache)."""
    running = start_tap(
        tmp_path, database_url, TAP_APPROVAL_TIMEOUT_SECS="60", TAP_CACHE_TTL_SECS="0"
    )
    yield running
    assert running.proxy.stop() == 0, running.proxy.log()


def test_an_edited_policy_applies_to_the_next_request(
    uncached_tap: Tap, upstream: Upstream
) -> None:
    tap = uncached_tap
    tap.add_credential("gh", SECRET, "--allowed-host", "127.0.0.1")
    key = tap.agent("bot", "--credentials", "gh")

    def outcomes() -> dict[str, tuple[int, str | None]]:
        seen = {}
        for path in ("/v1/open", "/v1/other"):
            response = tap.forward(key, "gh", upstream.url + path, method="POST")
            body = response.json()
            seen[path] = (response.status_code, body.get("policy_reason"))
        return seen

    # Each edit replaces the policy (an empty --require-approval-urls clears that list);
    # compiled rules must follow at once, also when a policy returns to an earlier version.
    clear = ("--require-approval-urls", "")
    versions = [
        (
            ("--auto-approve-urls", "/v1/open", *clear),
            "/v1/open",
            "/v1/other",
            "require_approval_default",
        ),
        (
            ("--auto-approve-urls", "/v1/other", *clear),
            "/v1/other",
            "/v1/open",
            "require_approval_default",
        ),
        (
            ("--auto-approve-methods", "POST", "--require-approval-urls", "/v1/OPEN"),
            "/v1/other",
            "/v1/open",
            "require_approval_url",
        ),
        (
            ("--auto-approve-urls", "/v1/open", *clear),
            "/v1/open",
            "/v1/other",
            "require_approval_default",
        ),
    ]
    for flags, runs, waits, reason in versions:
        tap.ok("policy", "set", "gh", *flags)
        seen = outcomes()
        assert seen[runs][0] == 200, (flags, seen)
        assert seen[waits] == (202, reason), (flags, seen)
