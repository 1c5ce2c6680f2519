"""``--team`` / ``TAP_TEAM``, ``tap team ...``, and read-only commands that write nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner, Result

from tests.integration.cli.conftest import Run, one_line_error
from tests.support.admin_api import PASSWORD, running_api
from tests.support.proxy import TEST_KEY
from tools.cli import main


def _teams(run: Run) -> list[str]:
    return [t["name"] for t in json.loads(run("team", "list", "--json").output)]


def test_read_only_commands_write_nothing(run: Run) -> None:
    for args in (
        ("credential", "list"),
        ("agent", "list"),
        ("role", "list"),
        ("approvals", "list"),
        ("team", "list"),
    ):
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert "(none)" in result.output
    assert "does not exist" in one_line_error(run("policy", "show", "ghost"))
    # Before, every command created the `default` team; now only a write does.
    assert _teams(run) == []
    assert run("agent", "create", "--name", "bot").exit_code == 0
    assert _teams(run) == ["default"]


def test_every_command_acts_on_the_named_team(run: Run) -> None:
    assert run("team", "create", "acme").exit_code == 0
    add = ("add", "--name", "gh", "--allowed-host", "api.github.com", "--value-file", "-")
    assert run("--team", "acme", *add, input="ghp_0123456789").exit_code == 0
    assert json.loads(run("credential", "list", "--json").output) == []
    in_acme = json.loads(run("credential", "list", "--json", TAP_TEAM="acme").output)
    assert [c["name"] for c in in_acme] == ["gh"]
    assert [
        c["name"] for c in json.loads(run("--team", "acme", "credential", "list", "--json").output)
    ] == ["gh"]
    assert sorted(_teams(run)) == ["acme"]


def test_an_unknown_team_is_one_line(run: Run) -> None:
    line = one_line_error(run("--team", "nope", "agent", "create", "--name", "bot"))
    assert "no team named 'nope'" in line and "tap team list" in line
    assert _teams(run) == []


def test_team_names_follow_the_signup_rule(run: Run) -> None:
    result = run("team", "create", "Bad Name")
    assert result.exit_code == 2
    assert "3-64 lowercase" in one_line_error(result)
    assert run("team", "create", "acme").exit_code == 0
    assert "already exists" in one_line_error(run("team", "create", "acme"))


async def test_an_owner_added_by_the_cli_signs_in_with_a_reset_code_and_sees_the_team(
    tmp_path: Path, database_url: str, run: Run
) -> None:
    def cli(*args: str, input: str | None = None) -> Result:
        env = {"POSTGRES_DATABASE_URL": database_url, "TAP_ENCRYPTION_KEY": TEST_KEY}
        return CliRunner().invoke(main, list(args), input=input, env=env)

    async with running_api(tmp_path, database_url) as api:
        steps = [
            ("team", "create", "acme"),
            (
                "--team",
                "acme",
                "add",
                "--name",
                "gh",
                "--allowed-host",
                "api.github.com",
                "--value-file",
                "-",
            ),
            ("--team", "acme", "team", "add-owner", "Bob@Example.com"),
        ]
        for step in steps:
            result = await asyncio.to_thread(cli, *step, input="ghp_0123456789")
            assert result.exit_code == 0, result.output
        assert "reset code" in result.output

        # No password works yet: the account's password is unknown to everyone.
        refused = await api.call(
            "POST", "/login", json={"email": "bob@example.com", "password": PASSWORD}
        )
        assert refused.status in (401, 403)
        await api.call("POST", "/forgot-password", json={"email": "bob@example.com"})
        code = api.resend.code_for("bob@example.com")
        reset = await api.call(
            "POST",
            "/reset-password",
            json={"email": "bob@example.com", "code": code, "password": PASSWORD},
        )
        assert reset.status == 200, reset.body
        bob = await api.login("bob@example.com")
        assert (await api.call("GET", "/user/me", bob.token)).body["member_role"] == "owner"
        listed = await api.call("GET", "/team/credentials", bob.token)
        assert [c["name"] for c in listed.body["credentials"]] == ["gh"]

    # Adding the same owner again changes nothing and says so without "new account".
    again = await asyncio.to_thread(cli, "--team", "acme", "team", "add-owner", "bob@example.com")
    assert again.exit_code == 0 and "reset code" not in again.output
    owners = json.loads((await asyncio.to_thread(cli, "team", "list", "--json")).output)
    assert owners[0]["owners"] == ["bob@example.com"]
