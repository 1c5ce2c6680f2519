"""The product brief's quick start, end to end, against a real tap-proxy and Postgres."""

from __future__ import annotations

import json
import time

import httpx

from tests.support.tap import Tap
from tests.support.upstream import Upstream

SECRET = "sk-live-quickstart-0123456789"


def test_quickstart_get_injected_post_approved(tap: Tap, upstream: Upstream) -> None:
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    key = tap.agent("bot", "--credentials", "demo")

    # A read runs at once, with the secret injected and scrubbed from the echo.
    upstream.handler = lambda r: __import__("aiohttp").web.json_response(
        {"echo": r.headers.get("Authorization")}
    )
    response = tap.forward(key, "demo", upstream.url + "/v1/items?x=1")
    assert response.status_code == 200, response.text
    assert upstream.received[-1].headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in response.text
    assert "[REDACTED:demo]" in response.text

    # A write waits for a human.
    response = tap.forward(
        key,
        "demo",
        upstream.url + "/v1/items",
        method="POST",
        content=b'{"a":1}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    parked = response.json()
    assert parked["status"] == "pending" and parked["poll_url"].endswith(parked["txn_id"])
    assert {"approval_url", "expires_in", "notification_channel", "agent_hint"} <= parked.keys()
    assert len(upstream.received) == 1, "nothing is forwarded before the decision"

    listed = json.loads(tap.ok("approvals", "list", "--json"))
    assert [item["txn_id"] for item in listed] == [parked["txn_id"]]
    tap.ok("approve", parked["txn_id"])

    final = tap.poll(key, parked["poll_url"], {"forwarded", "error"})
    assert final["status"] == "forwarded", final
    assert final["response"]["status"] == 200
    assert len(upstream.received) == 2
    assert upstream.received[-1].method == "POST" and upstream.received[-1].body == b'{"a":1}'
    assert SECRET not in json.dumps(final)

    # The audit log has both outcomes and no secret.
    logs = tap.logs(key, at_least=2)
    assert [e["outcome"] for e in logs["entries"]][:2] == ["forwarded", "forwarded"]
    assert SECRET not in json.dumps(logs)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "POST" not in (tap.tmp / "audit.jsonl").read_text():
        time.sleep(0.1)
    assert SECRET not in (tap.tmp / "audit.jsonl").read_text()


def test_denied_request_is_never_forwarded(tap: Tap, upstream: Upstream) -> None:
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    key = tap.agent("bot", "--credentials", "demo")
    parked = tap.forward(key, "demo", upstream.url + "/x", method="DELETE").json()
    tap.ok("deny", parked["txn_id"])
    final = tap.poll(key, parked["poll_url"], {"denied"})
    assert final["status"] == "denied"
    tap.sweep_executor()
    assert upstream.received == []
    again = tap.cli("approve", parked["txn_id"])
    assert again.exit_code == 1 and "already" in again.output
    denied = tap.logs(key, at_least=1)["entries"]
    assert [(e["outcome"], e["approval_status"]) for e in denied] == [("denied", "denied")]
    tap.sweep_executor()  # a later sweep must not audit it again
    assert tap.get("/agent/logs", key).json()["count"] == 1


def test_health_and_discovery(tap: Tap) -> None:
    assert httpx.get(tap.url + "/health").json()["status"] == "ok"
    tap.add_credential("demo", SECRET, "--allowed-host", "api.example.com")
    key = tap.agent("bot", "--credentials", "demo")
    services = tap.get("/agent/services", key).json()
    assert list(services["services"]) == ["demo"]
    assert SECRET not in json.dumps(services)
    boot = tap.get("/agent/bootstrap", key).json()
    assert boot["status"] == "ready" and boot["credential_count"] == 1
    text = httpx.get(tap.url + "/instructions").text
    for needle in (
        "TAP — Tool Authorization Proxy",
        "/agent/services",
        "X-TAP-Key",
        "Always POST to /forward",
    ):
        assert needle in text
    assert httpx.get(tap.url + "/", follow_redirects=False).status_code == 303
    page = httpx.get(tap.url + "/", follow_redirects=True)
    assert (
        page.status_code == 200 and "/docs" in page.text
    )  # the dashboard; the API is described there
    assert "default-src 'none'" in page.headers["content-security-policy"]
