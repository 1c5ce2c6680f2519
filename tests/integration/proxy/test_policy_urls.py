"""Policy URL rules against a real tap-proxy: a require rule holds however the path is spelled."""

from __future__ import annotations

import pytest

from tests.support.tap import Tap
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
