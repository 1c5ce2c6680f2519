"""Tests for app.proxy.target: full URLs, relative targets and the host binding."""

from __future__ import annotations

import pytest

from app.errors import CredentialMisconfigured, HostNotAllowed, InvalidTarget, PlainHttpNotAllowed
from app.proxy.target import check_allowed_host, check_scheme, host_matches, resolve_target
from app.store.models import Credential
from tests.support.factories import make_credential

FULL = make_credential()
RELATIVE = make_credential(relative_target=True, api_base="https://api.example.com/v2/")


@pytest.mark.parametrize(
    ("raw", "url", "host", "port"),
    [
        # plain absolute URLs, normalised scheme and host case
        (
            "https://api.example.com/v1/x?a=1",
            "https://api.example.com/v1/x?a=1",
            "api.example.com",
            443,
        ),
        ("HTTP://API.Example.COM", "http://api.example.com/", "api.example.com", 80),
        (
            "https://api.example.com:8443/x",
            "https://api.example.com:8443/x",
            "api.example.com",
            8443,
        ),
        # fragments are never sent
        ("https://api.example.com/x#frag", "https://api.example.com/x", "api.example.com", 443),
        # escapes of unreserved characters are decoded, others upper-cased
        ("https://h.example/v1/%63harges", "https://h.example/v1/charges", "h.example", 443),
        ("https://h.example/a%2fb", "https://h.example/a%2Fb", "h.example", 443),
        # IP literals
        ("http://93.184.216.34/", "http://93.184.216.34/", "93.184.216.34", 80),
        ("http://[2606:4700::1]:8080/", "http://[2606:4700::1]:8080/", "2606:4700::1", 8080),
        # "..." inside a segment is not a dot segment (GitHub compare URLs)
        (
            "https://api.github.com/repos/o/r/compare/a...b",
            "https://api.github.com/repos/o/r/compare/a...b",
            "api.github.com",
            443,
        ),
    ],
)
def test_full_url_is_resolved(raw: str, url: str, host: str, port: int) -> None:
    target = resolve_target(raw, FULL)
    assert (target.url, target.host, target.port, target.display) == (url, host, port, url)


@pytest.mark.parametrize(
    "raw",
    [
        # not http(s), or not absolute
        "ftp://example.com/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https:example.com/x",
        "//example.com/x",
        "/v1/charges",
        "v1/charges",
        "",
        # userinfo and hostless URLs
        "https://api.good.com@evil.com/",
        "https://user:pw@api.example.com/",
        "https:///path",
        "http://:80/",
        # non-canonical IPv4 forms that getaddrinfo maps to loopback
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://017.0.0.1/",
        # trailing dot, bad labels, zone ids, bad ports
        "https://api.example.com./",
        "https://api..example.com/",
        "https://exa mple.com/",
        "http://[fe80::1%25eth0]/",
        "https://api.example.com:0/",
        "https://api.example.com:99999/",
        "https://api.example.com:abc/",
        # control characters, non-ASCII, backslashes, dot segments
        "https://api.example.com/a\r\nX: y",
        "https://api.example.com/\u00e9",
        "https://api.example.com/a\\..\\b",
        "https://api.example.com/a/../b",
        "https://api.example.com/a/./b",
        "https://api.example.com/a/%2e%2e/b",
        "https://api.example.com/a//b",
        "https://api.example.com/a/%zz",
    ],
)
def test_bad_full_url_is_refused(raw: str) -> None:
    with pytest.raises(InvalidTarget):
        resolve_target(raw, FULL)


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        # joined under api_base, with or without a leading slash
        ("/charges", "https://api.example.com/v2/charges"),
        ("charges/ch_1?expand=x", "https://api.example.com/v2/charges/ch_1?expand=x"),
        ("/", "https://api.example.com/v2/"),
        ("?q=1", "https://api.example.com/v2/?q=1"),
        # a query may hold anything printable, even "../" or a URL
        (
            "/search?next=../x&u=https://evil.com",
            "https://api.example.com/v2/search?next=../x&u=https://evil.com",
        ),
        ("/a#frag", "https://api.example.com/v2/a"),
    ],
)
def test_relative_target_is_joined_under_api_base(raw: str, url: str) -> None:
    target = resolve_target(raw, RELATIVE)
    assert target.url == url
    assert target.host == "api.example.com"
    assert target.display == url


@pytest.mark.parametrize(
    "raw",
    [
        # parent segments in every spelling
        "../admin",
        "/../admin",
        "/v1/../../admin",
        "/%2e%2e/admin",
        "/%2E%2E/admin",
        "/.%2e/admin",
        "/%252e%252e/admin",
        "/%25252e%25252e/admin",
        "/a%2f..%2fadmin",
        "/a%5c..%5cadmin",
        "/..;/admin",
        "/./x",
        # backslashes
        "\\admin",
        "/a\\b",
        # schemes and authorities
        "https://evil.com/x",
        "http:evil.com",
        "javascript:alert(1)",
        "//evil.com/x",
        "/a//b",
        "@evil.com/x",
        "/x@evil.com",
        "/x%40evil.com",
        # empty, control characters raw or encoded
        "",
        "/a\nb",
        "/a%0d%0aX-Injected: 1",
        "/a%00b",
        "/a b",
    ],
)
def test_relative_target_cannot_escape_api_base(raw: str) -> None:
    with pytest.raises(InvalidTarget):
        resolve_target(raw, RELATIVE)


@pytest.mark.parametrize(
    "api_base",
    [
        None,
        "",
        "ftp://files.example.com",
        "https://user@api.example.com",
        "https://api.example.com/?x=1",
        "not a url",
    ],
)
def test_relative_credential_needs_a_usable_api_base(api_base: str | None) -> None:
    with pytest.raises(CredentialMisconfigured):
        resolve_target("/x", make_credential(relative_target=True, api_base=api_base))


# -- allowed_hosts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "pattern", "expected"),
    [
        # exact hosts
        ("api.stripe.com", "api.stripe.com", True),
        ("API.Stripe.com", " api.stripe.com ", True),
        ("api.stripe.com.evil.com", "api.stripe.com", False),
        ("stripe.com", "api.stripe.com", False),
        # wildcard: any depth and the bare apex, dot boundary only
        ("www.googleapis.com", "*.googleapis.com", True),
        ("a.b.c.googleapis.com", "*.googleapis.com", True),
        ("googleapis.com", "*.googleapis.com", True),
        ("evilgoogleapis.com", "*.googleapis.com", False),
        ("googleapis.com.evil.com", "*.googleapis.com", False),
        # malformed patterns never match
        ("api.example.com", "api.*.com", False),
        ("api.example.com", "*", False),
        ("api.example.com", "*.", False),
        ("api.example.com", "", False),
    ],
)
def test_host_matches(host: str, pattern: str, expected: bool) -> None:
    assert host_matches(host, pattern) is expected


def test_empty_allowed_hosts_is_unrestricted() -> None:
    check_allowed_host("anything.example", ())


def test_off_binding_host_is_refused_with_names() -> None:
    with pytest.raises(HostNotAllowed) as info:
        check_allowed_host("evil.com", ("api.stripe.com",), credential="stripe")
    assert info.value.extra == {"host": "evil.com", "credential": "stripe"}


@pytest.mark.parametrize(
    ("credential", "raw"),
    [
        # full URL off the binding
        (make_credential(allowed_hosts=("api.stripe.com",)), "https://evil.com/x"),
        # relative target: the api_base host is checked too (the reference skipped it)
        (
            make_credential(
                relative_target=True, api_base="https://evil.com", allowed_hosts=("api.stripe.com",)
            ),
            "/x",
        ),
    ],
)
def test_resolve_target_enforces_allowed_hosts(credential: Credential, raw: str) -> None:
    with pytest.raises(HostNotAllowed):
        resolve_target(raw, credential)


def test_allowed_host_passes() -> None:
    credential = make_credential(allowed_hosts=("*.stripe.com",))
    assert resolve_target("https://api.stripe.com/v1", credential).host == "api.stripe.com"


# -- https only, unless the credential allows http -------------------------------------------


@pytest.mark.parametrize(
    ("target", "allow_http", "allow_loopback_http", "allowed"),
    [
        # https is always fine
        ("https://api.example.com/x", False, False, True),
        # plain http needs the credential's consent ...
        ("http://api.example.com/x", False, False, False),
        ("HTTP://api.example.com/x", False, False, False),
        ("http://api.example.com/x", True, False, True),
        # ... which the private-targets switch does not give for public hosts
        ("http://api.example.com/x", False, True, False),
        ("http://10.0.0.5/x", False, True, False),
        # loopback over http only with the private-targets switch (tests, local development)
        ("http://127.0.0.1:8080/x", False, True, True),
        ("http://localhost:8080/x", False, True, True),
        ("http://[::1]:8080/x", False, True, True),
        ("http://127.0.0.1:8080/x", False, False, False),
    ],
)
def test_plain_http_needs_the_credentials_consent(
    target: str, allow_http: bool, allow_loopback_http: bool, allowed: bool
) -> None:
    credential = make_credential(allow_http=allow_http)
    resolved = resolve_target(target, credential)
    if allowed:
        check_scheme(resolved, credential, allow_loopback_http=allow_loopback_http)
    else:
        with pytest.raises(PlainHttpNotAllowed) as refused:
            check_scheme(resolved, credential, allow_loopback_http=allow_loopback_http)
        assert refused.value.to_json()["error"] == "plain_http_not_allowed"
        assert refused.value.status == 403


def test_relative_targets_take_the_scheme_of_api_base() -> None:
    credential = make_credential(
        relative_target=True, api_base="http://api.example.com/v1", allow_http=False
    )
    with pytest.raises(PlainHttpNotAllowed):
        check_scheme(resolve_target("/x", credential), credential, allow_loopback_http=True)
