"""Tests for app.proxy.policy: the decision order, the URL matcher and methods."""

from __future__ import annotations

import pytest

from app.errors import InvalidMethod
from app.proxy.policy import Decision, decide, normalize_method, strictest, url_pattern_matches
from app.store.models import Policy

URL = "https://api.example.com/v1/items?q=1"


def make_policy(**fields: tuple[str, ...]) -> Policy:
    return Policy(team_id="t1", credential_name="c", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "method", "needs", "reason"),
    [
        # no policy row: the team default
        ("autonomous", "DELETE", False, "team_autonomous_default"),
        ("gated", "GET", False, "team_gated_default_safe_method"),
        ("gated", "HEAD", False, "team_gated_default_safe_method"),
        ("gated", "OPTIONS", True, "team_gated_default_unsafe_method"),
        ("gated", "POST", True, "team_gated_default_unsafe_method"),
        ("gated", "PROPFIND", True, "team_gated_default_unsafe_method"),
        ("weird", "GET", False, "team_gated_default_safe_method"),
        ("weird", "POST", True, "team_gated_default_unsafe_method"),
    ],
)
def test_team_default(mode: str, method: str, needs: bool, reason: str) -> None:
    assert decide(None, mode, method, URL) == Decision(needs, reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "method", "needs", "reason"),
    [
        # require-URL beats auto-URL and method rules
        (
            make_policy(require_approval_urls=("/v1",), auto_approve_urls=("/v1",)),
            "GET",
            True,
            "require_approval_url",
        ),
        (
            make_policy(require_approval_urls=("/v1",), auto_approve_methods=("GET",)),
            "GET",
            True,
            "require_approval_url",
        ),
        # auto-URL approves whatever the method
        (
            make_policy(auto_approve_urls=("api.example.com/v1/items",)),
            "DELETE",
            False,
            "auto_approve_url",
        ),
        # method rules; HEAD is looked up as GET; case-insensitive lists
        (make_policy(auto_approve_methods=("get",)), "GET", False, "auto_approve_method"),
        (make_policy(auto_approve_methods=("GET",)), "HEAD", False, "auto_approve_method"),
        (make_policy(auto_approve_methods=("HEAD",)), "HEAD", True, "require_approval_default"),
        (make_policy(require_approval_methods=("POST",)), "POST", True, "require_approval_method"),
        (
            make_policy(auto_approve_methods=("POST",), require_approval_methods=("POST",)),
            "POST",
            False,
            "auto_approve_method",
        ),
        # An unknown method is matched only as itself: POST rules do not cover it ...
        (
            make_policy(auto_approve_methods=("GET", "POST")),
            "PURGE",
            True,
            "require_approval_default",
        ),
        (
            make_policy(require_approval_methods=("POST",)),
            "PURGE",
            True,
            "require_approval_default",
        ),
        # ... but naming it explicitly does.
        (make_policy(auto_approve_methods=("PURGE",)), "PURGE", False, "auto_approve_method"),
        # an explicit policy beats an autonomous team
        (make_policy(), "GET", True, "require_approval_default"),
        # patterns that do not match fall through
        (
            make_policy(require_approval_urls=("other.example.com",)),
            "GET",
            True,
            "require_approval_default",
        ),
    ],
)
def test_policy_order(policy: Policy, method: str, needs: bool, reason: str) -> None:
    assert decide(policy, "autonomous", method, URL) == Decision(needs, reason)


@pytest.mark.parametrize(
    ("pattern", "target", "expected"),
    [
        # path prefix by whole segments, any host
        ("/v1/search", "https://h.example/v1/search", True),
        ("/v1/search", "https://h.example/v1/search/results", True),
        ("/v1/search/", "https://h.example/v1/search", True),
        ("/v1/search", "https://h.example/v1/search/", True),
        ("/v1/search", "https://h.example/v1/searchx", False),
        ("/v1/search", "https://h.example/x/v1/search", False),
        ("/v1/search", "https://h.example/other?p=/v1/search", False),
        ("/v1/search", "https://h.example/other#/v1/search", False),
        ("/V1/search", "https://h.example/v1/search", False),
        ("/", "https://h.example/anything/at/all", True),
        # stars are one non-empty segment; partial stars are literal
        ("/repos/*/*/git/refs", "https://h.example/repos/o/r/git/refs/heads/main", True),
        ("/repos/*/*/git/refs", "https://h.example/repos/o/git/refs", False),
        ("/a/*/c", "https://h.example/a//c", False),
        ("/refs/ref*", "https://h.example/refs/refs", False),
        ("/refs/ref*", "https://h.example/refs/ref*", True),
        # host-qualified patterns need the exact host
        ("api.notion.com/v1", "https://api.notion.com/v1/pages", True),
        ("API.Notion.com/v1", "https://api.notion.com:8443/v1/pages", True),
        ("api.notion.com/v1", "https://api.notion.com.evil.com/v1/pages", False),
        ("api.notion.com/v1", "https://evil.com/api.notion.com/v1", False),
        ("api.notion.com", "https://api.notion.com/anything", True),
        ("api.notion.com", "https://notion.com/", False),
        ("*.github.com/repos", "https://api.github.com/repos", False),
        ("*.github.com", "https://api.github.com/", False),
        ("https://api.github.com/repos", "https://api.github.com/repos", False),
        # blank patterns and non-absolute targets never match
        ("", "https://h.example/", False),
        ("   ", "https://h.example/", False),
        ("/v1", "/v1/relative", False),
        ("/v1", "not a url", False),
    ],
)
def test_url_pattern_matcher(pattern: str, target: str, expected: bool) -> None:
    assert url_pattern_matches(pattern, target) is expected


@pytest.mark.parametrize(
    ("raw", "method"),
    [
        ("GET", "GET"),
        ("get", "GET"),
        (" post ", "POST"),
        ("PROPFIND", "PROPFIND"),
        ("M-SEARCH", "M-SEARCH"),
    ],
)
def test_normalize_method(raw: str, method: str) -> None:
    assert normalize_method(raw) == method


@pytest.mark.parametrize(
    "raw", ["", " ", "GE T", "GET\r\nX: y", "G(ET)", "G\u00e9T", "X" * 33, "GET/"]
)
def test_normalize_method_refuses_non_tokens(raw: str) -> None:
    with pytest.raises(InvalidMethod):
        normalize_method(raw)


def test_strictest_takes_the_first_approval() -> None:
    run = Decision(False, "auto_approve_method")
    wait = Decision(True, "require_approval_url")
    assert strictest([run, wait]) == wait
    assert strictest([run]) == run
    with pytest.raises(ValueError):
        strictest([])
