"""``tap approve`` / ``tap deny`` follow the same policy rules as every other surface.

A plain operator decision settles only a request whose policy lets anyone
decide with one vote and no passkey; any other needs ``--break-glass --reason``,
which is recorded as the decider.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.integration.cli.conftest import Run, one_line_error
from tests.support.admin_api import park_request


@pytest.fixture
def demo(run: Run) -> Run:
    added = run(
        "add",
        "--name",
        "demo",
        "--allowed-host",
        "api.example.com",
        "--value-file",
        "-",
        input="sk-demo-0123456789",
    )
    assert added.exit_code == 0, added.output
    return run


def _park(database_url: str, **policy: object) -> str:
    return asyncio.run(park_request(database_url, "default", "demo", **policy))  # type: ignore[arg-type]


def _pending(run: Run) -> list[str]:
    return [p["txn_id"] for p in json.loads(run("approvals", "list", "--json").output)]


def test_a_plain_approve_settles_a_request_anyone_may_decide(demo: Run, database_url: str) -> None:
    txn = _park(database_url)
    result = demo("approve", txn)
    assert result.exit_code == 0, result.output
    assert "(approved)" in result.output
    assert _pending(demo) == []


def test_a_plain_deny_settles_a_passkey_request(demo: Run, database_url: str) -> None:
    # The passkey rule guards approving; anyone eligible may still deny.
    txn = _park(database_url, require_passkey=True)
    assert demo("deny", txn).exit_code == 0
    assert _pending(demo) == []


@pytest.mark.parametrize(
    ("policy", "decision", "why"),
    [
        # Named approvers: the operator is not one of them, for either decision.
        ({"allowed": ("alice@example.com",)}, "approve", "names the people"),
        ({"allowed": ("alice@example.com",)}, "deny", "names the people"),
        # A quorum: one operator vote is not enough.
        ({"min_approvals": 2}, "approve", "needs 2 approvals"),
        # A passkey: the CLI has none.
        ({"require_passkey": True}, "approve", "requires a passkey"),
    ],
)
def test_other_requests_need_break_glass(
    demo: Run, database_url: str, policy: dict[str, object], decision: str, why: str
) -> None:
    txn = _park(database_url, **policy)
    line = one_line_error(demo(decision, txn))
    assert why in line
    assert "--break-glass --reason TEXT" in line
    assert _pending(demo) == [txn], "a refused decision changes nothing"

    overridden = demo(decision, txn, "--break-glass", "--reason", "Alice is on leave")
    assert overridden.exit_code == 0, overridden.output
    assert "by breaking glass" in overridden.output
    assert _pending(demo) == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--break-glass",), "--break-glass needs --reason"),
        (("--reason", "why"), "--reason goes with --break-glass"),
    ],
)
def test_break_glass_and_reason_go_together(
    demo: Run, database_url: str, args: tuple[str, ...], fragment: str
) -> None:
    txn = _park(database_url, min_approvals=2)
    result = demo("approve", txn, *args)
    assert result.exit_code == 2
    assert fragment in one_line_error(result)
    assert _pending(demo) == [txn]


def test_an_empty_reason_is_refused(demo: Run, database_url: str) -> None:
    txn = _park(database_url, min_approvals=2)
    line = one_line_error(demo("approve", txn, "--break-glass", "--reason", "   "))
    assert "reason" in line
    assert _pending(demo) == [txn]


def test_approvals_list_shows_the_body_and_full_timestamps(demo: Run, database_url: str) -> None:
    _park(database_url)
    listed = demo("approvals", "list")
    assert listed.exit_code == 0, listed.output
    header, row = listed.output.strip().splitlines()
    assert "BODY" in header and "CREATED" in header and "EXPIRES" in header
    assert '{"a":1}' in row
    # Date, time and zone, twice (created and expires).
    assert row.count(" UTC") == 2
    assert json.loads(demo("approvals", "list", "--json").output)[0]["created_at"].endswith(
        "+00:00"
    )
