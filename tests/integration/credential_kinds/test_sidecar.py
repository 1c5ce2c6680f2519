"""Sidecar connectors: relative targets go to the sidecar with its headers, and the
sidecar's URL never reaches anything an agent can read."""

from __future__ import annotations

from tests.support.tap import Tap
from tests.support.upstream import Upstream

VALUE = "sidecar-session-0123456789abcdef"


def _agent_views(tap: Tap, key: str) -> list[str]:
    return [tap.get(path, key).text for path in ("/agent/services", "/agent/config")]


def test_relative_targets_are_routed_to_the_sidecar(tap: Tap, upstream: Upstream) -> None:
    tap.ok(
        "add", "--name", "mail", "--description", "mail", "--auth", "sidecar",
        "--api-base", upstream.url + "/connector", "--relative-target", "--value-file", "-",
        input=VALUE,
    )  # fmt: skip
    key = tap.agent("bot", "--credentials", "mail")
    response = tap.forward(
        key, "mail", "/v1.0/me/messages?top=3", headers={"X-OAuth-Credential-Data": "forged"}
    )
    assert response.status_code == 200, response.text
    (received,) = upstream.received
    assert received.path == "/connector/v1.0/me/messages?top=3"
    assert received.headers["X-OAuth-Credential"] == "mail"
    assert received.headers["X-TAP-Method"] == "GET"
    assert received.headers["X-OAuth-Credential-Data"] == VALUE
    assert "X-OAuth-Target" not in received.headers
    services = tap.get("/agent/services", key).json()["services"]["mail"]
    assert services["auth_mode"] == "oauth_sidecar" and services["auth_header_names"] == []
    assert services["kind"]["name"] == "sidecar"
    for text in _agent_views(tap, key):
        assert str(upstream.port) not in text and "/connector" not in text


def test_absolute_targets_are_handed_to_the_sidecar(tap: Tap, upstream: Upstream) -> None:
    tap.ok(
        "add", "--name", "graph", "--description", "graph", "--auth", "sidecar",
        "--api-base", upstream.url + "/proxy", "--allowed-host", "graph.example.com",
        "--value-file", "-", input=VALUE,
    )  # fmt: skip
    key = tap.agent("bot", "--credentials", "graph")
    response = tap.forward(key, "graph", "https://graph.example.com/v1.0/me")
    assert response.status_code == 200, response.text
    (received,) = upstream.received
    assert received.path == "/proxy"
    assert received.headers["X-OAuth-Target"] == "https://graph.example.com/v1.0/me"
    refused = tap.forward(key, "graph", "https://evil.example.net/v1.0/me")
    assert refused.status_code == 403 and refused.json()["error"] == "host_not_allowed"
    for text in _agent_views(tap, key):
        assert str(upstream.port) not in text
    assert VALUE not in response.text


def test_a_sidecar_needs_its_url(tap: Tap) -> None:
    result = tap.cli(
        "add", "--name", "s", "--auth", "sidecar", "--relative-target", "--value-file", "-",
        input=VALUE,
    )  # fmt: skip
    assert result.exit_code == 2 and "--api-base" in result.stderr
