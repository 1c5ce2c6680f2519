"""The agent API besides /forward: discovery, config, links, logs; nothing leaks."""

from __future__ import annotations

import base64
import json

import httpx

from tests.support.tap import Tap

SECRET = "sk-agent-api-secret-0123456789"


def test_multi_key_services_are_prefixed_and_never_echo_keys(tap: Tap) -> None:
    tap.add_credential("github", SECRET, "--allowed-host", "api.github.com")
    tap.add_credential("slack", "xoxb-another-secret-123", "--allowed-host", "slack.com")
    one = tap.agent("one", "--credentials", "github")
    two = tap.agent("two", "--credentials", "slack")
    body = tap.get("/agent/services", f"{one}, tap_not_a_key ,{two}").json()
    assert sorted(body["services"]) == ["one.github", "two.slack"]
    assert body["accounts"] == {
        "one": {"agent_id": "one", "key_index": 0},
        "two": {"agent_id": "two", "key_index": 2},
    }
    assert "agent_id" not in body
    text = json.dumps(body)
    for leaked in (one, two, SECRET, "xoxb-another"):
        assert leaked not in text
    single = tap.get("/agent/services", one).json()
    assert list(single["services"]) == ["github"] and single["agent_id"] == "one"
    entry = single["services"]["github"]
    assert entry["auth_header_names"] == ["Authorization"]
    assert entry["request_template"]["headers"]["X-TAP-Credential"] == "github"
    assert single["usage"]["supported_tap_headers"][0] == "x-tap-key"


def test_single_key_endpoints_refuse_key_lists(tap: Tap) -> None:
    tap.add_credential("github", SECRET, "--allowed-host", "api.github.com")
    one = tap.agent("one", "--credentials", "github")
    assert tap.get("/agent/bootstrap", f"{one},{one}").status_code == 401
    assert tap.get("/agent/config").status_code == 401
    assert tap.get("/agent/config").json()["error"] == "missing_tap_key"


def test_agent_config_and_unconfigured_agent(tap: Tap) -> None:
    tap.add_credential(
        "github", SECRET, "--allowed-host", "api.github.com", "--api-base", "https://api.github.com"
    )
    one = tap.agent("one", "--credentials", "github")
    lonely = tap.agent("lonely")
    config = tap.get("/agent/config", one).json()
    assert config == {
        "agent_id": "one",
        "credentials": [
            {"name": "github", "description": "github api", "api_base": "https://api.github.com"}
        ],
    }
    assert tap.get("/agent/config", lonely).status_code == 404
    assert tap.get("/agent/bootstrap", lonely).json()["status"] == "needs_credentials"


def test_credential_link_rejects_secrets_and_bad_names(tap: Tap) -> None:
    key = tap.agent("one")
    url = tap.url + "/agent/credential-link"
    headers = {"X-TAP-Key": key}
    ok = httpx.post(
        url, headers=headers, json={"name": " Stripe ", "allowed_hosts": ["api.stripe.com"]}
    )
    assert ok.status_code == 200
    blob = ok.json()["create_url"].split("prefill_credential=")[1].split("#")[0]
    payload = json.loads(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    assert payload["name"] == "stripe" and payload["allowed_hosts"] == ["api.stripe.com"]
    for body in ({"name": "x", "value": "sk_live"}, {"name": "x", "secret": "s"}):
        refused = httpx.post(url, headers=headers, json=body)
        assert refused.status_code == 400 and "sk_live" not in refused.text
    bad = httpx.post(url, headers=headers, json={"name": "no spaces!"})
    assert bad.status_code == 400 and "lowercase alphanumeric" in bad.json()["message"]
    assert httpx.post(url, headers=headers, content=b"not json").status_code == 400


def test_logs_are_scoped_capped_and_newest_first(tap: Tap) -> None:
    tap.add_credential("github", SECRET, "--allowed-host", "127.0.0.1")
    one = tap.agent("one", "--credentials", "github")
    other = tap.agent("other", "--credentials", "github")
    for i in range(3):
        tap.forward(one, "github", f"http://127.0.0.1:9/{i}")
    tap.forward(other, "github", "http://127.0.0.1:9/other")
    tap.logs(one, at_least=3)
    logs = tap.get("/agent/logs?limit=500", one).json()
    assert logs["count"] == 3
    assert [e["target_url"] for e in logs["entries"]] == [
        f"http://127.0.0.1:9/{i}" for i in (2, 1, 0)
    ]
    assert all(e["agent_id"] == "one" for e in logs["entries"])
