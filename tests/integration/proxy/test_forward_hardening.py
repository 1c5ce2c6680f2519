"""Attacks on the /forward pipeline from the security review, each against a real tap-proxy.

Every test here reproduces one confirmed attack (a rate limit dodged with a key
list, client identity leaking upstream, a DNS failure reported as a policy
refusal, a secret sent over plain http) and asserts what an agent and the
upstream observe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from app.store import credentials, events, teams
from tests.support.tap import Tap, start_tap
from tests.support.upstream import Upstream

SECRET = "sk-live-Hardening/+Secret=4242"


@pytest.fixture
def demo(tap: Tap) -> str:
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    return tap.agent("bot", "--credentials", "demo")


@pytest.fixture
def guarded(tmp_path: Path, database_url: str) -> Iterator[Tap]:
    running = start_tap(tmp_path, database_url, DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS="0")
    yield running
    running.proxy.stop()


# -- finding 6: the key that is served is the key that is charged ----------------------------


def test_listing_an_unlimited_key_first_does_not_dodge_the_limit(
    tap: Tap, upstream: Upstream
) -> None:
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    unlimited = tap.agent("decoy")  # valid, unlimited, holds nothing
    limited = tap.agent("worker", "--credentials", "demo", "--rate-limit", "2")
    both = f"{unlimited},{limited}"
    statuses = [tap.forward(both, "demo", upstream.url).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    # The allowance is the serving key's, however the list is spelled.
    assert tap.forward(limited, "demo", upstream.url).status_code == 429
    assert len(upstream.received) == 2


def test_a_limited_key_listed_first_does_not_limit_the_key_that_serves(
    tap: Tap, upstream: Upstream
) -> None:
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    limited = tap.agent("decoy", "--rate-limit", "1")  # holds nothing
    serving = tap.agent("worker", "--credentials", "demo")
    both = f"{limited},{serving}"
    statuses = [tap.forward(both, "demo", upstream.url).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]


# -- finding 12: nothing about the agent or TAP reaches an upstream ---------------------------

_IDENTITY_HEADERS = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Host": "agent.internal",
    "X-Forwarded-Proto": "http",
    "X-Forwarded-Port": "8443",
    "X-Real-Ip": "203.0.113.7",
    "Forwarded": "for=203.0.113.7;proto=http",
    "Via": "1.1 agent-gateway",
    "True-Client-IP": "203.0.113.7",
    "CF-Connecting-IP": "203.0.113.7",
    "X-Client-IP": "203.0.113.7",
    "X-Cluster-Client-IP": "203.0.113.7",
    "Fastly-Client-IP": "203.0.113.7",
    "Remote-Addr": "203.0.113.7",
}


def test_client_identity_headers_never_reach_the_upstream(
    tap: Tap, demo: str, upstream: Upstream
) -> None:
    response = tap.forward(
        demo,
        "demo",
        upstream.url + "/who",
        headers={**_IDENTITY_HEADERS, "X-Custom": "kept"},
        content=b"{}",
    )
    assert response.status_code == 200, response.text
    (received,) = upstream.received
    names = {name.lower() for name in received.headers}
    assert names.isdisjoint(name.lower() for name in _IDENTITY_HEADERS)
    assert not any(name.startswith("x-forwarded-") for name in names)
    assert received.headers["X-Custom"] == "kept"
    # Quart adds Remote-Addr with the socket peer, and TAP's client library would add
    # its own User-Agent and a guessed Content-Type: only the agent's own pass.
    assert received.headers["User-Agent"].startswith("python-httpx/")
    assert "content-type" not in names
    for name, value in received.headers.items():
        if name.lower() != "host":
            assert "127.0.0.1" not in value and "203.0.113.7" not in value, name
    assert received.headers["Authorization"] == f"Bearer {SECRET}"


def test_the_agents_own_user_agent_and_content_type_pass(
    tap: Tap, demo: str, upstream: Upstream
) -> None:
    response = tap.forward(
        demo,
        "demo",
        upstream.url,
        headers={"User-Agent": "my-agent/1.0", "Content-Type": "application/json"},
        content=b"{}",
    )
    assert response.status_code == 200, response.text
    (received,) = upstream.received
    assert received.headers["User-Agent"] == "my-agent/1.0"
    assert received.headers["Content-Type"] == "application/json"


# -- finding 12: a DNS failure is a retryable upstream error, not a refusal -------------------


def test_dns_failure_at_connect_time_is_a_retryable_502(tap: Tap) -> None:
    # With private targets allowed nothing is resolved before connecting, so this
    # is the connect-time path.
    tap.add_credential("open", SECRET, "--allowed-host", "no-such-host.invalid")
    key = tap.agent("bot", "--credentials", "open")
    response = tap.forward(key, "open", "https://no-such-host.invalid/x")
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["error"] == "upstream_dns_error"
    assert body["safe_to_retry"] is True
    assert SECRET not in response.text


def test_dns_failure_at_check_time_is_a_retryable_502(guarded: Tap) -> None:
    guarded.add_credential("open", SECRET, "--allowed-host", "no-such-host.invalid")
    key = guarded.agent("bot", "--credentials", "open")
    response = guarded.forward(key, "open", "https://no-such-host.invalid/x")
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "upstream_dns_error"
    assert response.json()["safe_to_retry"] is True


# -- finding 12: a secret goes over plain http only when its credential says so --------------


def allow_http(tap: Tap, name: str) -> None:
    """Turn on a credential's allow_http through the store (the CLI flag is not ours)."""

    async def change() -> None:
        conn = await asyncpg.connect(tap.database_url)
        try:
            async with conn.transaction():
                changed = await credentials.update(
                    conn, team_id=teams.DEFAULT_TEAM_ID, name=name, allow_http=True
                )
                assert changed.allow_http
                await events.team_changed(conn, teams.DEFAULT_TEAM_ID)
        finally:
            await conn.close()

    asyncio.run(change())


def test_plain_http_is_refused_before_anything_is_sent(guarded: Tap) -> None:
    guarded.add_credential("open", SECRET, "--allowed-host", "*.example.test")
    key = guarded.agent("bot", "--credentials", "open")
    response = guarded.forward(key, "open", "http://api.example.test/v1/x")
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "plain_http_not_allowed"
    assert body["credential"] == "open"
    assert SECRET not in response.text


def test_a_credential_that_allows_http_gets_past_the_scheme_rule(guarded: Tap) -> None:
    guarded.add_credential("legacy", SECRET, "--allowed-host", "no-such-host.invalid")
    key = guarded.agent("bot", "--credentials", "legacy")
    assert guarded.forward(key, "legacy", "http://no-such-host.invalid/x").status_code == 403
    allow_http(guarded, "legacy")
    # Past the scheme rule, the request goes as far as name resolution (once the
    # change has reached the proxy's cache, a NOTIFY away).
    deadline = time.monotonic() + 10
    while True:
        response = guarded.forward(key, "legacy", "http://no-such-host.invalid/x")
        if response.status_code != 403 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "upstream_dns_error"


def test_private_targets_switch_keeps_loopback_http_only(tap: Tap, upstream: Upstream) -> None:
    tap.add_credential("open", SECRET, "--allowed-host", "localhost", "--allowed-host", "10.9.9.9")
    key = tap.agent("bot", "--credentials", "open")
    local = tap.forward(key, "open", f"http://localhost:{upstream.port}/x")
    assert local.status_code == 200, local.text
    private = tap.forward(key, "open", "http://10.9.9.9/x")
    assert private.status_code == 403, private.text
    assert private.json()["error"] == "plain_http_not_allowed"
    assert len(upstream.received) == 1
