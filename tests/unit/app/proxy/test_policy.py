"""Tests for app.proxy.policy: the decision order, the URL matcher and methods."""

from __future__ import annotations

import pytest

from app.errors import InvalidMethod
from app.proxy.policy import (
    Decision,
    compile_policy,
    decide,
    normalize_method,
    strictest,
    url_pattern_matches,
)
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
        ("/a/*/c", "https://h.example/a/;x/c", False),
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
    # The plain cases hold for both kinds of rule, except case: require rules
    # ignore it.
    assert url_pattern_matches(pattern, target, "auto") is expected
    fail_safe = expected or pattern == "/V1/search" or pattern == "/a/*/c"
    assert url_pattern_matches(pattern, target, "require") is fail_safe


RULE = "/repos/acme/prod"
GITHUB = "https://api.github.com"


@pytest.mark.parametrize(
    "path",
    [
        # the finding's dodges, each one a spelling the upstream reads as the same repository
        "/repos/ACME/prod/hooks",
        "/repos/acme/Prod/hooks",
        "/repos/acme/prod;x/hooks",
        "/repos/acme/prod%2Fhooks",
        "/repos/acme/prod%2fhooks",
        "/repos/acme/prod.git",
        "/repos/acme/prod.git/hooks",
        "/repos/acme/prod%20",
        "/repos/acme/prod%20/hooks",
        # percent-encoded letters, encoded twice, and encoded separators
        "/repos/acme/%70rod/hooks",
        "/repos/%61cme/prod",
        "/repos/acme/prod%252Fhooks",
        "/repos%2Facme%2Fprod",
        "/repos/acme/prod%3Bx/hooks",
        # dot segments and parameters on earlier segments
        "/repos/acme/x/../prod/hooks",
        "/repos/./acme/prod",
        "/repos/acme;v=1/prod",
        "/repos;/acme/prod/",
        # other trailing junk at a non-alphanumeric boundary
        "/repos/acme/prod~1",
        "/repos/acme/prod-old",
        "/repos/acme/PROD.GIT",
        "/repos/%20acme/prod",
    ],
)
def test_require_rule_is_not_dodged_by_spelling(path: str) -> None:
    policy = make_policy(require_approval_urls=(RULE,), auto_approve_methods=("GET", "POST"))
    assert decide(policy, "gated", "POST", GITHUB + path) == Decision(True, "require_approval_url")
    host_rule = make_policy(require_approval_urls=("API.github.com" + RULE,))
    assert decide(host_rule, "gated", "GET", GITHUB + path).reason == "require_approval_url"


@pytest.mark.parametrize(
    "path",
    [
        # other repositories stay other repositories
        "/repos/acme/production",
        "/repos/acme/prod2",
        "/repos/acme/pro",
        "/repos/acmex/prod",
        "/repos/acme",
        "/v1/repos/acme/prod",
    ],
)
def test_require_rule_does_not_swallow_other_names(path: str) -> None:
    assert not url_pattern_matches(RULE, GITHUB + path, "require")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/search", True),
        ("/v1/search/results", True),
        ("/v1/%73earch", True),
        ("/v1/x/../search", True),
        ("/v1/search;x", True),
        # auto rules match exactly: a different spelling is not approved
        ("/v1/Search", False),
        ("/V1/search", False),
        ("/v1/search.git", False),
        ("/v1/search%20", False),
        ("/v1/searchx", False),
    ],
)
def test_auto_rule_matches_exactly(path: str, expected: bool) -> None:
    assert url_pattern_matches("/v1/search", "https://h.example" + path, "auto") is expected


def test_require_beats_auto_whatever_the_spelling() -> None:
    policy = make_policy(require_approval_urls=("/admin",), auto_approve_urls=("/",))
    decision = decide(policy, "autonomous", "GET", "https://h.example/ADMIN%2Fusers")
    assert decision == Decision(True, "require_approval_url")


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


def test_an_edited_policy_is_compiled_anew() -> None:
    # The compiled form is memoised on the policy's whole value: an edit is a new key.
    before = make_policy(auto_approve_urls=("/v1/items",))
    assert decide(before, "gated", "POST", URL) == Decision(False, "auto_approve_url")
    after = make_policy(auto_approve_urls=("/v1/items",), require_approval_urls=("/V1/ITEMS",))
    assert decide(after, "gated", "POST", URL) == Decision(True, "require_approval_url")
    methods = make_policy(auto_approve_methods=("post ",))
    assert decide(methods, "gated", "POST", URL) == Decision(False, "auto_approve_method")
    assert decide(before, "gated", "POST", URL) == Decision(False, "auto_approve_url")
    assert compile_policy(before) is compile_policy(make_policy(auto_approve_urls=("/v1/items",)))


@pytest.mark.parametrize(
    "pattern",
    [
        # patterns that can match nothing are dropped when compiling
        "",
        "   ",
        "*.example.com/v1",
        "/v1/items",
    ],
)
def test_compiled_rules(pattern: str) -> None:
    compiled = compile_policy(make_policy(require_approval_urls=(pattern,)))
    assert len(compiled.require_urls) == (1 if pattern == "/v1/items" else 0)
