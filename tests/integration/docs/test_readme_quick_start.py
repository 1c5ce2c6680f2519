"""The README's quick start, command by command, against a real tap-proxy and a local upstream.

The commands are read out of the README and run in a shell as written. Only
what cannot exist here is substituted, in one table: the proxy's address for
``localhost:3100``, a loopback upstream for ``api.github.com``, and the values
the commands themselves print (the agent key, the transaction id).
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.proxy import TEST_KEY
from tests.support.tap import Tap, start_tap
from tests.support.upstream import Upstream

README = Path(__file__).resolve().parents[3] / "README.md"
SECRET = "ghp_quickstart_0123456789abcdef"


def quick_start_commands() -> list[str]:
    """The shell commands of the quick start block, continuation lines joined, comments dropped."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quick start") :]
    block = section[section.index("```sh\n") + 6 : section.index("\n```", section.index("```sh"))]
    commands: list[str] = []
    pending = ""
    for line in block.splitlines():
        code = re.sub(r"\s+#.*$", "", line) if not line.lstrip().startswith("#") else ""
        if not code.strip():
            continue
        pending += code.rstrip("\\").rstrip() + " " if code.endswith("\\") else code
        if not code.endswith("\\"):
            commands.append(pending.strip())
            pending = ""
    return commands


def test_the_commands_are_what_a_reader_runs() -> None:
    commands = quick_start_commands()
    assert commands[0] == ". .venv/bin/activate"
    assert [c.split()[0] for c in commands[1:]] == [
        "tap", "export", "curl", "curl", "tap", "tap", "curl",
    ]  # fmt: skip


def test_quick_start_word_for_word(tap: Tap, upstream: Upstream) -> None:
    host = upstream.url.removeprefix("http://")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "POSTGRES_DATABASE_URL": tap.database_url,
        "TAP_ENCRYPTION_KEY": TEST_KEY,
        "TAP_AUDIT_LOG": str(tap.tmp / "audit.jsonl"),
    }
    txn = ""

    def shell(command: str, typed: str | None = None) -> str:
        """Run ``command`` as written; ``typed`` is what a person types at a terminal prompt."""
        for old, new in (
            ("localhost:3100", tap.url.removeprefix("http://")),
            ("https://api.github.com", upstream.url),
            ("api.github.com", host.split(":")[0]),
            ("<txn_id>", txn),
        ):
            command = command.replace(old, new)
        script = f"set -eo pipefail; {command}; echo; echo TAP_API_KEY=$TAP_API_KEY"
        if typed is None:
            done = subprocess.run(
                ["bash", "-c", script], stdin=subprocess.DEVNULL, capture_output=True,
                text=True, env=env, timeout=60, check=False,
            )  # fmt: skip
        else:
            # A terminal on stdin, so the CLI prompts (hidden) as it does for a person. The
            # prompt flushes what was typed ahead, so keep typing until the command ends.
            terminal, prompt_side = pty.openpty()
            with subprocess.Popen(
                ["bash", "-c", script], stdin=prompt_side, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
            ) as process:  # fmt: skip
                deadline = time.monotonic() + 60
                while process.poll() is None and time.monotonic() < deadline:
                    os.write(terminal, typed.encode())
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(0.3)
                if process.poll() is None:
                    process.kill()
                stdout, stderr = process.communicate()
            done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
            os.close(terminal)
            os.close(prompt_side)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        key = re.search(r"^TAP_API_KEY=(tap_\S+)$", done.stdout, re.M)
        if key:
            env["TAP_API_KEY"] = key.group(1)
        return done.stdout

    commands = quick_start_commands()[1:]  # the test runs inside the venv already
    shell(commands[0], typed=SECRET + "\n")  # tap add: the secret at the hidden prompt
    shell(commands[1])  # the agent, its key exported
    assert env.get("TAP_API_KEY", "").startswith("tap_")

    read = shell(commands[2])
    assert upstream.received[-1].path == "/user"
    assert upstream.received[-1].headers["Authorization"] == f"token {SECRET}"
    assert SECRET not in read

    parked = json.loads(shell(commands[3]).split("\nTAP_API_KEY=")[0])
    assert parked["status"] == "pending"
    txn = parked["txn_id"]
    assert txn in shell(commands[4])  # tap approvals list
    shell(commands[5])  # tap approve <txn_id>

    deadline = time.monotonic() + 20
    while True:
        final = json.loads(shell(commands[6]).split("\nTAP_API_KEY=")[0])
        if final["status"] == "forwarded" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert final["status"] == "forwarded", final
    assert [(r.method, r.path, r.body) for r in upstream.received[1:]] == [
        ("POST", "/user/repos", b'{"name":"demo"}')
    ]


@pytest.fixture
def tap(tmp_path: Path, database_url: str) -> Iterator[Tap]:
    running = start_tap(tmp_path, database_url)
    yield running
    running.proxy.stop()
