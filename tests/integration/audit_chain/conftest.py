from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.support.audit_outage import query
from tests.support.tap import Tap
from tests.support.upstream import Upstream
from tests.support.waiting import wait_for

SECRET = "sk-live-chained-0123456789"
DEADLINE_SECS = 60


def demo(tap: Tap) -> str:
    """A credential whose writes run at once, and an agent that may use it."""
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    tap.ok("policy", "set", "demo", "--auto-approve-methods", "GET,POST")
    return tap.agent("bot", "--credentials", "demo")


def send_many(tap: Tap, key: str, upstream: Upstream, count: int, tag: str) -> None:
    """``count`` forwards at once, so the writers see them in several batches together."""

    def one(i: int) -> int:
        return tap.forward(
            key, "demo", f"{upstream.url}/{tag}{i}", method="POST", content=b"{}"
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(count))) == {200}


def file_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def records(lines: list[str]) -> list[dict[str, Any]]:
    return [e for e in map(json.loads, lines) if "checkpoint" not in e]


def checkpoints(lines: list[str]) -> list[dict[str, Any]]:
    return [e["checkpoint"] for e in map(json.loads, lines) if "checkpoint" in e]


def row_count(url: str) -> int:
    return int(query(url, "SELECT count(*) FROM audit_log")[0][0])


def wait_until_signed(path: Path, count: int) -> list[str]:
    """The file once a checkpoint covers ``count`` records (the idle timer signs the tail)."""
    return wait_for(
        lambda: file_lines(path),
        lambda lines: any(c["count"] == count for c in checkpoints(lines)),
        timeout=DEADLINE_SECS,
    )
