"""``tap add`` asks for exactly a kind's fields: public ones as text, secret ones hidden."""

from __future__ import annotations

import json

from tests.support.tap import Tap
from tests.support.upstream import Upstream

CLIENT_SECRET = "oauth2-client-secret-0123456789"


def test_oauth2_fields_are_prompted_for(tap: Tap) -> None:
    answers = [
        "graph",  # Name
        "Microsoft Graph",  # Description
        "oauth2",  # Auth type
        "graph.microsoft.com,login.example.com",  # Allowed hosts (the token endpoint's too)
        "client-123",  # client_id
        CLIENT_SECRET,  # client_secret (hidden)
        "",  # refresh_token (hidden, optional: skipped)
        "https://login.example.com/oauth2/v2.0/token",  # token_url
        "Mail.Read offline_access",  # scopes
        "",  # client_auth (optional: Basic by default)
    ]
    result = tap.cli("add", input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert CLIENT_SECRET not in result.output
    for label in ("client_id", "client_secret", "refresh_token", "token_url", "scopes"):
        assert label in result.output
    listed = json.loads(tap.ok("credential", "list", "--json"))
    (graph,) = listed
    assert graph["auth_type"] == "oauth2"
    assert graph["value_hint"] == "{client_id, client_secret, scopes, token_url}"


def test_secret_fields_never_come_from_flags(tap: Tap) -> None:
    result = tap.cli(
        "add", "--name", "s3", "--auth", "aws-sigv4", "--secret-access-key", "x",
        "--allowed-host", "s3.amazonaws.com",
    )  # fmt: skip
    assert result.exit_code == 2 and "No such option" in result.output


def test_custom_bindings(tap: Tap, upstream: Upstream) -> None:
    tap.ok(
        "add", "--name", "dd", "--description", "datadog", "--auth", "custom",
        "--binding", "DD-API-KEY: {value.api}", "--binding", "DD-APPLICATION-KEY: {value.app}",
        "--allowed-host", "127.0.0.1", "--value-file", "-",
        input='{"api": "api-key-0123456789", "app": "app-key-0123456789"}',
    )  # fmt: skip
    key = tap.agent("bot", "--credentials", "dd")
    assert tap.forward(key, "dd", upstream.url + "/api/v1/validate").status_code == 200
    sent = upstream.received[0].headers
    assert sent["DD-API-KEY"] == "api-key-0123456789"
    assert sent["DD-APPLICATION-KEY"] == "app-key-0123456789"
    bad = tap.cli(
        "add", "--name", "dd2", "--auth", "custom", "--binding", "no colon here",
        "--allowed-host", "api.datadoghq.com", "--value-file", "-", input="x",
    )  # fmt: skip
    assert bad.exit_code == 1 and "--binding" in bad.stderr
