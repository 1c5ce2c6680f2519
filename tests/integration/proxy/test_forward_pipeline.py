"""Each numbered point of the /forward pipeline against a real tap-proxy and a recording upstream."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from tests.support.tap import Tap, start_tap
from tests.support.upstream import Upstream
from tests.support.waiting import wait_for

SECRET = "sk-live-Abc123/+xyz=0987654321"


@pytest.fixture
def demo(tap: Tap) -> str:
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    return tap.agent("bot", "--credentials", "demo")


# -- 1. headers and authentication ---------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"X-TAP-Credentials": "demo"}, 400, "unknown_tap_header"),
        ({"X-Tap-Secret": "x"}, 400, "unknown_tap_header"),
        ({"X-TAP-Auth-Mode": "magic"}, 400, "invalid_auth_mode"),
        ({"X-TAP-Method": "GE T"}, 400, "invalid_method"),
        ({"X-TAP-End-User": "u1"}, 400, "end_user_not_supported"),
    ],
)
def test_malformed_control_headers(
    tap: Tap, demo: str, upstream: Upstream, headers: dict[str, str], status: int, code: str
) -> None:
    response = tap.forward(demo, "demo", upstream.url, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    if code == "unknown_tap_header":
        assert next(iter(headers)).lower() in response.json()["message"].lower()
        assert "pass through" in response.json()["agent_action"]
    assert upstream.received == []


def test_duplicate_control_header(tap: Tap, demo: str, upstream: Upstream) -> None:
    response = httpx.post(
        tap.url + "/forward",
        headers=[
            ("X-TAP-Key", demo),
            ("X-TAP-Credential", "demo"),
            ("X-TAP-Target", upstream.url),
            ("X-TAP-Target", "http://x"),
        ],
    )
    assert response.status_code == 400 and response.json()["error"] == "duplicate_header"


def test_missing_target(tap: Tap, demo: str) -> None:
    response = tap.forward(demo, "demo", "")
    assert response.status_code == 400 and response.json()["error"] == "missing_target"


@pytest.mark.parametrize("key", [None, "", "tap_unknown", "not-even-a-key"])
def test_missing_or_unknown_key(tap: Tap, demo: str, upstream: Upstream, key: str | None) -> None:
    response = tap.forward(key, "demo", upstream.url)
    assert response.status_code == 401
    assert response.json()["error"] in ("missing_tap_key", "invalid_tap_key")


def test_disabled_agent_is_refused_at_once(tap: Tap, demo: str, upstream: Upstream) -> None:
    assert tap.forward(demo, "demo", upstream.url).status_code == 200
    tap.ok("agent", "disable", "bot")
    # A NOTIFY away, well within the deadline, not the 30 s cache TTL.
    response = wait_for(
        lambda: tap.forward(demo, "demo", upstream.url), lambda r: r.status_code != 200, timeout=5
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_tap_key"
    tap.ok("agent", "enable", "bot")
    wait_for(
        lambda: tap.forward(demo, "demo", upstream.url), lambda r: r.status_code == 200, timeout=5
    )


def test_rotated_key_stops_working(tap: Tap, demo: str, upstream: Upstream) -> None:
    assert tap.forward(demo, "demo", upstream.url).status_code == 200
    new_key = tap.ok("agent", "rotate-key", "bot").split("TAP_API_KEY=")[1].strip()
    wait_for(
        lambda: tap.forward(demo, "demo", upstream.url), lambda r: r.status_code == 401, timeout=5
    )
    assert tap.forward(new_key, "demo", upstream.url).status_code == 200


# -- 2. rate limit ---------------------------------------------------------------------------


def test_rate_limit_admits_exactly_n(tap: Tap, upstream: Upstream) -> None:
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    key = tap.agent("limited", "--credentials", "demo", "--rate-limit", "3")
    statuses = [tap.forward(key, "demo", upstream.url).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = tap.forward(key, "demo", upstream.url)
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3660
    assert refused.json()["retry_after_secs"] == int(refused.headers["Retry-After"])
    assert len(upstream.received) == 3


# -- 3. access -------------------------------------------------------------------------------


def test_credential_not_granted_and_not_existing(tap: Tap, demo: str, upstream: Upstream) -> None:
    tap.add_credential("other", "other-secret-value-123", "--allowed-host", "127.0.0.1")
    denied = tap.forward(demo, "other", upstream.url)
    assert denied.status_code == 403 and denied.json()["error"] == "credential_not_allowed"
    missing = tap.forward(demo, "nonexistent", upstream.url)
    assert missing.status_code == 404 and missing.json()["error"] == "credential_not_found"
    assert "prefill_credential=" in missing.json()["credential_link_url"]
    bad = tap.forward(demo, "Bad Name!", upstream.url)
    assert bad.status_code == 403 and "credential_link_url" not in bad.json()
    assert upstream.received == []


# -- 4. targets and host binding -------------------------------------------------------------


def test_allowed_hosts_binding(tap: Tap, upstream: Upstream) -> None:
    tap.add_credential("bound", SECRET, "--allowed-host", "api.example.com")
    key = tap.agent("bot", "--credentials", "bound")
    response = tap.forward(key, "bound", upstream.url + "/x")
    assert response.status_code == 403 and response.json()["error"] == "host_not_allowed"
    assert upstream.received == []


@pytest.mark.parametrize(
    "target",
    [
        "../admin",
        "/v1/../../admin",
        "/v1/%2e%2e/admin",
        "//evil.example/x",
        "http://evil.example/x",
        "/v1@evil.example",
        "\\\\evil.example\\x",
        "/v1/..%2fadmin",
    ],
)
def test_relative_target_cannot_escape_api_base(tap: Tap, upstream: Upstream, target: str) -> None:
    tap.add_credential("rel", SECRET, "--api-base", upstream.url + "/v1", "--relative-target")
    key = tap.agent("bot", "--credentials", "rel")
    response = tap.forward(key, "rel", target)
    assert response.status_code in (400, 403), response.text
    assert all(not r.path.startswith("/admin") for r in upstream.received)
    assert all(r.path.startswith("/v1") for r in upstream.received)


def test_relative_target_resolves_under_api_base(tap: Tap, upstream: Upstream) -> None:
    tap.add_credential("rel", SECRET, "--api-base", upstream.url + "/v1", "--relative-target")
    key = tap.agent("bot", "--credentials", "rel")
    assert tap.forward(key, "rel", "/items?limit=2").status_code == 200
    assert upstream.received[-1].path == "/v1/items?limit=2"


@pytest.mark.parametrize(
    "target", ["ftp://127.0.0.1/x", "not a url", "http://", "http://user:pw@127.0.0.1/"]
)
def test_bad_urls(tap: Tap, demo: str, target: str) -> None:
    response = tap.forward(demo, "demo", target)
    assert response.status_code in (400, 403), response.text
    assert response.json()["error"] in ("invalid_target", "host_not_allowed", "target_not_allowed")


# -- 5. SSRF (guard on) ----------------------------------------------------------------------


@pytest.fixture
def guarded(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    running = start_tap(tmp_path, database_url, DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS="0")
    yield running
    running.proxy.stop()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "169.254.169.254",
        "10.0.0.1",
        "0.0.0.0",
        "[::ffff:a9fe:a9fe]",
        "100.64.0.1",
        "localtest.localhost",
    ],
)
def test_ssrf_guard_refuses_internal_targets(guarded: Tap, upstream: Upstream, host: str) -> None:
    guarded.plant_open_credential("open", SECRET)  # only the SSRF guard stands in the way
    key = guarded.agent("bot", "--credentials", "open")
    port = upstream.port
    response = guarded.forward(key, "open", f"http://{host}:{port}/x")
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "target_not_allowed"
    assert upstream.received == []


def test_ssrf_guard_applies_to_relative_targets(guarded: Tap, upstream: Upstream) -> None:
    guarded.add_credential("rel", SECRET, "--api-base", upstream.url + "/v1", "--relative-target")
    key = guarded.agent("bot", "--credentials", "rel")
    response = guarded.forward(key, "rel", "/items")
    assert response.status_code == 403 and response.json()["error"] == "target_not_allowed"
    assert upstream.received == []


def test_redirects_are_not_followed(tap: Tap, demo: str, upstream: Upstream) -> None:
    upstream.handler = lambda r: web.Response(
        status=302, headers={"Location": "http://127.0.0.1:9/steal"}
    )
    response = tap.forward(demo, "demo", upstream.url + "/start", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "http://127.0.0.1:9/steal"
    assert len(upstream.received) == 1


# -- 6. placeholders -------------------------------------------------------------------------


def test_placeholder_mode(tap: Tap, demo: str, upstream: Upstream) -> None:
    ok = tap.forward(
        demo, None, upstream.url + "/p", headers={"Authorization": "Bearer <CREDENTIAL:demo>"}
    )
    assert ok.status_code == 200, ok.text
    assert upstream.received[-1].headers["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    ("target_suffix", "headers", "body"),
    [
        ("/p", {"X-Custom": "<CREDENTIAL:demo>"}, None),  # plain reference outside an auth header
        (
            "/p",
            {"Authorization": "Bearer <CREDENTIAL:demo>"},
            b'{"token": "<CREDENTIAL:demo>"}',
        ),  # in the body
        ("/p?key=<CREDENTIAL:demo>", {"Authorization": "<CREDENTIAL:demo>"}, None),  # in the query
        ("/<CREDENTIAL:demo>/x", {"Authorization": "<CREDENTIAL:demo>"}, None),  # in the path
    ],
)
def test_placeholder_positions(
    tap: Tap,
    demo: str,
    upstream: Upstream,
    target_suffix: str,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    response = tap.forward(
        demo, None, upstream.url + target_suffix, method="GET", headers=headers, content=body
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "placeholder_position_violation"
    assert upstream.received == []


# -- 9. injection ----------------------------------------------------------------------------


def test_header_format_bindings_and_basic(tap: Tap, upstream: Upstream) -> None:
    tap.add_credential(
        "gh",
        "ghp_0123456789abcdef",
        "--allowed-host",
        "127.0.0.1",
        "--header-format",
        "token {value}",
    )
    tap.add_credential(
        "basic",
        '{"username": "alice", "password": "pa55-w0rd-xyz"}',
        "--allowed-host",
        "127.0.0.1",
        "--auth",
        "basic",
    )
    tap.add_credential(
        "multi",
        '{"a": "first-secret-aaaa", "b": "second-secret-bbbb"}',
        "--allowed-host",
        "127.0.0.1",
    )
    key = tap.agent("bot", "--credentials", "gh,basic,multi")
    assert (
        tap.forward(key, "gh", upstream.url, headers={"Authorization": "spoofed"}).status_code
        == 200
    )
    assert upstream.received[-1].headers["Authorization"] == "token ghp_0123456789abcdef"
    assert tap.forward(key, "basic", upstream.url).status_code == 200
    expected = "Basic " + base64.b64encode(b"alice:pa55-w0rd-xyz").decode()
    assert upstream.received[-1].headers["Authorization"] == expected
    unbound = tap.forward(key, "multi", upstream.url)
    assert unbound.status_code == 400 and unbound.json()["error"] == "multi_secret_unbound"
    assert "first-secret" not in unbound.text


# -- 10. forwarding failures -----------------------------------------------------------------


def test_upstream_unreachable_is_502(tap: Tap, demo: str) -> None:
    response = tap.forward(demo, "demo", "http://127.0.0.1:9/x")
    assert response.status_code == 502 and response.json()["error"] == "upstream_error"


def test_upstream_errors_pass_through(tap: Tap, demo: str, upstream: Upstream) -> None:
    upstream.handler = lambda r: web.json_response({"error": "nope"}, status=418)
    response = tap.forward(demo, "demo", upstream.url)
    assert response.status_code == 418 and response.json() == {"error": "nope"}


# -- 11. sanitization ------------------------------------------------------------------------


def _encodings(secret: str) -> dict[str, str]:
    return {
        "exact": secret,
        "base64": base64.b64encode(secret.encode()).decode(),
        "base64url": base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
        "percent": urllib.parse.quote(secret, safe=""),
        "percent_plus": urllib.parse.quote_plus(secret),
        "json": json.dumps(secret)[1:-1].replace("/", "\\/"),
    }


@pytest.mark.parametrize("form", list(_encodings(SECRET)))
def test_secret_echoed_in_every_encoding_is_redacted(
    tap: Tap, demo: str, upstream: Upstream, form: str
) -> None:
    echoed = _encodings(SECRET)[form]
    upstream.handler = lambda r: web.Response(
        text=f'{{"echo": "x{echoed}y"}}',
        content_type="application/json",
        headers={"X-Echo": echoed},
    )
    response = tap.forward(demo, "demo", upstream.url)
    assert response.status_code == 200
    assert echoed not in response.text
    assert "[REDACTED:demo]" in response.text
    assert echoed not in response.headers.get("X-Echo", "")


def test_gzip_response_is_scanned(tap: Tap, demo: str, upstream: Upstream) -> None:
    import gzip

    upstream.handler = lambda r: web.Response(
        body=gzip.compress(f"leak {SECRET}".encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
    )
    response = tap.forward(demo, "demo", upstream.url)
    assert SECRET not in response.text and "[REDACTED:demo]" in response.text


# -- malformed requests never 500 -------------------------------------------------------------


def test_malformed_requests_are_4xx_json(tap: Tap, demo: str, upstream: Upstream) -> None:
    cases = [
        httpx.get(tap.url + "/forward"),
        httpx.post(
            tap.url + "/forward",
            headers={"X-TAP-Key": demo, "X-TAP-Credential": "demo", "X-TAP-Target": upstream.url},
            content=b"\xff\xfe\x00bad",
        ),
        httpx.post(
            tap.url + "/forward",
            headers={"X-TAP-Key": demo, "X-TAP-Credential": "demo", "X-TAP-Target": upstream.url},
            content=b"x" * (11 * 1024 * 1024),
        ),
        httpx.post(
            tap.url + "/forward",
            headers={
                "X-TAP-Key": demo,
                "X-TAP-Credential": "\u00e9\u00e9".encode("latin-1"),  # type: ignore[dict-item]
                "X-TAP-Target": upstream.url,
            },
        ),
        httpx.post(
            tap.url + "/forward",
            headers={"X-TAP-Key": demo, "X-TAP-Credential": "demo", "X-TAP-Target": "http://[::1"},
        ),
    ]
    for response in cases:
        assert response.status_code != 500, response.text
        if response.status_code >= 400:
            assert "error" in response.json()
    assert cases[0].status_code == 405
    assert cases[2].status_code == 413


# -- 12. audit -------------------------------------------------------------------------------


def test_refusals_are_audited_without_secrets(tap: Tap, demo: str, upstream: Upstream) -> None:
    tap.forward(demo, "demo", upstream.url, headers={"Authorization": "Bearer agent-own-token-123"})
    tap.forward(demo, "nope", upstream.url)
    tap.forward(demo, "demo", "http://127.0.0.1:9/")
    logs = tap.logs(demo, at_least=3, limit=10)
    outcomes = [(e["outcome"], e["error"]) for e in logs["entries"]]
    assert outcomes == [
        ("error", "upstream_error"),
        ("refused", "credential_not_found"),
        ("forwarded", None),
    ]
    text = json.dumps(logs)
    assert SECRET not in text and "agent-own-token-123" not in text
    assert tap.get("/agent/logs?limit=1", demo).json()["count"] == 1
    assert tap.get("/agent/logs?limit=abc", demo).status_code == 200
