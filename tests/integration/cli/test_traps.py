"""The first hour's CLI traps: each ends in one line, the right exit code, nothing created."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from aiohttp import web
from click.testing import CliRunner

from tests.integration.cli.conftest import Run, one_line_error
from tests.support.upstream import Upstream
from tools.cli import main


def _names(run: Run) -> list[str]:
    return [c["name"] for c in json.loads(run("credential", "list", "--json").output)]


@pytest.mark.parametrize(
    ("args", "input", "fragment"),
    [
        # `tap add --name x </dev/null`: no value, no credential.
        (("add", "--name", "x", "--allowed-host", "x.example"), "", "no value given"),
        # An empty value file is no value either.
        (("add", "--name", "x", "--allowed-host", "x.example", "--value-file", "-"), "\n", "empty"),
        # A value the API would refuse is refused here, by the same rule.
        (
            ("add", "--name", "x", "--allowed-host", "x.example", "--value-file", "-"),
            "sk-\x00-0123",
            "value: must not contain NUL characters",
        ),
        # The API requires allowed hosts (unless relative); so does the CLI.
        (("add", "--name", "x", "--value-file", "-"), "v-0123", "allowed_hosts is required"),
        # A base URL that is not one.
        (
            ("add", "--name", "x", "--allowed-host", "x.example", "--api-base", "not a url"),
            "v-0123",
            "api_base",
        ),
        # A value file that is not there.
        (
            ("add", "--name", "x", "--allowed-host", "x.example", "--value-file", "/nonexistent/v"),
            None,
            "cannot read the value file /nonexistent/v",
        ),
        # Interactive: the hosts prompt cannot be skipped (it asks again until input ends).
        (("add",), "x\n\napi-key\n\n", "input ended before allowed hosts"),
        # Interactive, input ends early.
        (("add",), "x\n", "input ended"),
    ],
)
def test_add_never_creates_an_unsafe_credential(
    run: Run, args: tuple[str, ...], input: str | None, fragment: str
) -> None:
    result = run(*args, input=input)
    assert result.exit_code == 1
    assert fragment in one_line_error(result)
    assert _names(run) == []


def test_updates_match_the_api(run: Run) -> None:
    add = ("add", "--name", "gh", "--allowed-host", "api.github.com", "--value-file", "-")
    assert run(*add, input="ghp_first_0123456789").exit_code == 0
    assert run("role", "create", "--name", "reader").exit_code == 0
    assert run("agent", "create", "--name", "bot").exit_code == 0

    updated = run(
        "credential", "update", "gh",
        "--allowed-host", "api.github.com", "--allowed-host", "uploads.github.com",
        "--header-format", "token {value}", "--description", "GitHub",
    )  # fmt: skip
    assert updated.exit_code == 0, updated.output
    cred = json.loads(run("credential", "list", "--json").output)[0]
    assert cred["allowed_hosts"] == ["api.github.com", "uploads.github.com"]
    assert (cred["auth_header_format"], cred["description"]) == ("token {value}", "GitHub")
    assert "{value}" in one_line_error(run("credential", "update", "gh", "--header-format", "x"))
    assert "nothing to change" in one_line_error(run("credential", "update", "gh"))

    set_value = run(
        "credential", "set-value", "gh", "--value-file", "-", input="ghp_second_987654321"
    )
    assert set_value.exit_code == 0 and "ghp_second" not in set_value.output
    assert json.loads(run("credential", "list", "--json").output)[0]["value_hint"] == "gh***21"
    assert "no value given" in one_line_error(run("credential", "set-value", "gh", input=""))

    changed = run(
        "agent", "update", "bot", "--credentials", "gh", "--roles", "reader", "--rate-limit", "50"
    )
    assert changed.exit_code == 0, changed.output
    agent = json.loads(run("agent", "show", "bot", "--json").output)
    assert (agent["credentials"], agent["roles"], agent["rate_limit_per_hour"]) == (
        ["gh"],
        ["reader"],
        50,
    )
    assert run("agent", "update", "bot", "--rate-limit", "none", "--roles", "").exit_code == 0
    agent = json.loads(run("agent", "show", "bot", "--json").output)
    assert (agent["roles"], agent["rate_limit_per_hour"]) == ([], None)
    assert "no such credential: nope" in one_line_error(
        run("agent", "update", "bot", "--credentials", "nope")
    )
    assert json.loads(run("agent", "show", "bot", "--json").output)["credentials"] == ["gh"]
    assert "rate_limit_per_hour" in one_line_error(
        run("agent", "update", "bot", "--rate-limit", "0")
    )
    assert "does not exist" in one_line_error(run("agent", "update", "ghost", "--description", "x"))


def _commands(group: click.Group, prefix: str = "tap") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix} {name}"))
    return found


@pytest.mark.parametrize(
    ("path", "command"), _commands(main), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_command_has_a_one_line_help(path: str, command: click.Command) -> None:
    summary = command.get_short_help_str(limit=200)
    assert summary and not summary.endswith("..."), path
    assert (command.help or "").strip().splitlines()[0].endswith("."), path


def test_status_asks_the_address_the_server_listens_on() -> None:
    upstream = Upstream(
        handler=lambda r: web.json_response(
            {"status": "ok", "build": {"version": "9", "sha": "abc"}}
        )
    ).start()
    try:
        result = CliRunner().invoke(
            main, ["status"], env={"TAP_LISTEN_ADDR": f"0.0.0.0:{upstream.port}"}
        )
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"http://127.0.0.1:{upstream.port}: ok (version 9, sha abc)"
        assert [r.path for r in upstream.received] == ["/health"]
    finally:
        upstream.stop()


def test_status_names_the_host_and_the_cause_in_words() -> None:
    result = CliRunner().invoke(main, ["status"], env={"TAP_LISTEN_ADDR": "127.0.0.1:1"})
    line = one_line_error(result)
    assert line == "error: cannot reach http://127.0.0.1:1: connection refused"
    assert "Error" not in line.removeprefix("error")


def test_logs_show_why_a_request_was_refused(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    record = {
        "timestamp": "2026-11-29T10:00:00Z", "agent_id": "bot", "method": "GET",
        "target_url": "https://evil.example/", "credential_names": ["gh"], "outcome": "denied",
        "error": "host_not_allowed", "policy_reason": None, "upstream_status": None,
    }  # fmt: skip
    log.write_text(json.dumps(record) + "\n")
    result = CliRunner().invoke(main, ["logs", "--log-file", str(log)])
    assert result.exit_code == 0
    assert "outcome=denied" in result.output and "reason=host_not_allowed" in result.output
    missing = CliRunner().invoke(main, ["logs", "--log-file", str(tmp_path / "nope.jsonl")])
    assert "no such file or directory" in one_line_error(missing)
