"""The operator CLI against a real Postgres: round trips and every error ending in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.proxy import TEST_KEY
from tools.cli import main


def test_credential_agent_role_policy_round_trip(run) -> None:  # type: ignore[no-untyped-def]
    assert (
        run(
            "add",
            "--name",
            "slack",
            "--description",
            "Slack",
            "--api-base",
            "https://slack.com/api",
            "--allowed-host",
            "slack.com",
            "--value-file",
            "-",
            input="xoxb-0123456789-abcdef\n",
        ).exit_code
        == 0
    )
    assert (
        run(
            "add",
            "--name",
            "github",
            "--value-file",
            "-",
            "--allowed-host",
            "api.github.com",
            "--header-format",
            "token {value}",
            input="ghp_0123456789abcdef",
        ).exit_code
        == 0
    )
    creds = json.loads(run("credential", "list", "--json").output)
    assert [c["name"] for c in creds] == ["github", "slack"]
    assert creds[1]["value_hint"] == "xo***ef"
    assert "xoxb" not in run("credential", "list").output.replace("xo***ef", "")

    assert (
        run(
            "role", "create", "--name", "reader", "--credentials", "slack", "--rate-limit", "50"
        ).exit_code
        == 0
    )
    created = run(
        "agent",
        "create",
        "--name",
        "bot",
        "--roles",
        "reader",
        "--credentials",
        "github",
        "--rate-limit",
        "100",
    )
    assert created.exit_code == 0
    key_lines = [
        line for line in created.stdout.splitlines() if line.startswith("TAP_API_KEY=tap_")
    ]
    assert len(key_lines) == 1
    shown = json.loads(run("agent", "show", "bot", "--json").output)
    assert shown["effective_credentials"] == ["github", "slack"]
    assert shown["id"] == "bot"  # one word per idea: the API calls it id too
    assert run("role", "remove-credential", "reader", "slack").exit_code == 0
    assert json.loads(run("agent", "show", "bot", "--json").output)["effective_credentials"] == [
        "github"
    ]
    assert run("role", "add-credential", "reader", "slack").exit_code == 0
    assert run("role", "delete", "reader").exit_code == 0
    assert json.loads(run("agent", "show", "bot", "--json").output)["roles"] == []

    assert run("agent", "disable", "bot").exit_code == 0
    assert json.loads(run("agent", "list", "--json").output)[0]["enabled"] is False
    assert run("agent", "enable", "bot").exit_code == 0

    assert (
        run(
            "policy",
            "set",
            "slack",
            "--auto-approve-methods",
            "get,head",
            "--require-approval-urls",
            "/admin,/chat.postMessage",
        ).exit_code
        == 0
    )
    policy = json.loads(run("policy", "show", "slack", "--json").output)
    assert policy["auto_approve_methods"] == ["GET", "HEAD"]
    assert policy["require_approval_urls"] == ["/admin", "/chat.postMessage"]
    # Omitting --require-approval-urls keeps the stored list.
    assert run("policy", "set", "slack", "--auto-approve-methods", "GET").exit_code == 0
    assert json.loads(run("policy", "show", "slack", "--json").output)["require_approval_urls"] == [
        "/admin",
        "/chat.postMessage",
    ]
    assert run("policy", "clear", "slack").exit_code == 0
    assert json.loads(run("policy", "show", "slack", "--json").output) is None

    assert run("agent", "delete", "bot").exit_code == 0
    assert run("credential", "delete", "github").exit_code == 0
    assert [c["name"] for c in json.loads(run("credential", "list", "--json").output)] == ["slack"]


def test_interactive_add_prompts_for_everything(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "add", input="stripe\nStripe API\napi-key\napi.stripe.com\nsk_test_0123456789abcdef\n"
    )
    assert result.exit_code == 0, result.output
    assert "Allowed hosts" in result.output
    assert "sk_test_0123456789abcdef" not in result.output
    listed = json.loads(run("credential", "list", "--json").output)
    assert [(c["name"], c["allowed_hosts"], c["has_value"]) for c in listed] == [
        ("stripe", ["api.stripe.com"], True)
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("add", "--name", "x", "--value", "sk-on-argv-0123456789", "--allowed-host", "x.example"),
        ("credential", "set-value", "x", "--value", "sk-on-argv-0123456789"),
        ("--encryption-key", "00" * 32, "agent", "list"),
    ],
)
def test_no_secret_is_accepted_on_the_command_line(run, args) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exit_code == 2
    assert "No such option" in result.output
    assert json.loads(run("credential", "list", "--json").output) == []


@pytest.mark.parametrize(
    ("setup", "args", "fragment", "code"),
    [
        # Unknown objects.
        ([], ("agent", "show", "ghost"), "agent 'ghost' does not exist", 1),
        ([], ("agent", "disable", "ghost"), "does not exist", 1),
        ([], ("role", "delete", "ghost"), "role 'ghost' does not exist", 1),
        ([], ("credential", "delete", "ghost"), "does not exist", 1),
        ([], ("policy", "show", "ghost"), "does not exist", 1),
        ([], ("policy", "set", "ghost", "--auto-approve-methods", "GET"), "does not exist", 1),
        (
            [],
            ("agent", "create", "--name", "a", "--credentials", "nope"),
            "no such credential: nope",
            1,
        ),
        ([], ("agent", "create", "--name", "a", "--roles", "nope"), "no such role: nope", 1),
        ([], ("approve", "not-a-uuid"), "no approval request", 1),
        # Duplicates.
        (
            [("agent", "create", "--name", "a")],
            ("agent", "create", "--name", "a"),
            "already exists",
            1,
        ),
        (
            [("role", "create", "--name", "r")],
            ("role", "create", "--name", "r"),
            "already exists",
            1,
        ),
        # Malformed input.
        (
            [],
            ("add", "--name", "Bad Name!", "--value-file", "-", "--allowed-host", "x.example"),
            "lowercase alphanumeric",
            1,
        ),
        (
            [],
            ("add", "--name", "ok", "--value-file", "-", "--allowed-host", "https://x.com/"),
            "not a host name",
            1,
        ),
        (
            [],
            ("add", "--name", "ok", "--relative-target", "--value-file", "-"),
            "needs an api_base",
            1,
        ),
        (
            [],
            (
                "add",
                "--name",
                "ok",
                "--api-base",
                "ftp://x",
                "--value-file",
                "-",
                "--allowed-host",
                "x.example",
            ),
            "http(s) URL",
            1,
        ),
        (
            [],
            (
                "add",
                "--name",
                "ok",
                "--header-format",
                "Bearer",
                "--value-file",
                "-",
                "--allowed-host",
                "x.example",
            ),
            "{value}",
            1,
        ),
        ([], ("agent", "create", "--name", "bad name"), "agent names", 1),
        ([], ("agent", "create", "--name", "a", "--rate-limit", "0"), "0", 2),
        (
            [],
            ("policy", "set", "x", "--auto-approve-urls", "https://x.com/a"),
            "without a scheme",
            1,
        ),
    ],
)
def test_errors_are_one_line_and_non_zero(run, setup, args, fragment, code) -> None:  # type: ignore[no-untyped-def]
    for step in setup:
        assert run(*step).exit_code == 0
    result = run(*args, input="some-value-0123")
    assert result.exit_code == code, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_wrong_key_is_refused(run) -> None:  # type: ignore[no-untyped-def]
    assert run("agent", "list").exit_code == 0
    result = run("agent", "list", key="00" * 32)
    assert result.exit_code == 1
    assert "does not match this database" in result.output


def test_malformed_key_is_a_usage_error(run) -> None:  # type: ignore[no-untyped-def]
    result = run("agent", "list", key="not-hex")
    assert result.exit_code == 2
    assert "TAP_ENCRYPTION_KEY" in result.output


def test_unreachable_database() -> None:
    result = CliRunner().invoke(
        main,
        ["agent", "list"],
        env={
            "POSTGRES_DATABASE_URL": "postgres://tap@127.0.0.1:1/tap",
            "TAP_ENCRYPTION_KEY": TEST_KEY,
        },
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: cannot reach the database tap on 127.0.0.1: connection refused"
    )


def test_logs_reads_the_audit_file(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text(
        "\n".join(
            json.dumps(
                {
                    "timestamp": f"t{i}",
                    "agent_id": "bot",
                    "method": "GET",
                    "target_url": "u",
                    "outcome": "forwarded",
                }
            )
            for i in range(30)
        )
        + "\nnot json\n"
    )
    result = CliRunner().invoke(main, ["logs", "--log-file", str(log), "--tail", "5"])
    assert result.exit_code == 0
    assert len(result.output.strip().splitlines()) == 4  # the last five lines, one of them not JSON
    missing = CliRunner().invoke(main, ["logs", "--log-file", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 1 and "cannot read" in missing.output


def test_status_reports_an_unreachable_proxy() -> None:
    result = CliRunner().invoke(main, ["status", "--proxy-url", "http://127.0.0.1:1"])
    assert result.exit_code == 1
    assert "cannot reach" in result.output
