"""The CLI next to a real tap-proxy: a break-glass approval is audited as such, and
``tap logs`` says why a request was refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tap import Tap, start_tap
from tests.support.upstream import Upstream

SECRET = "sk-live-breakglass-0123456789"


@pytest.fixture
def tap(tmp_path: Path, database_url: str) -> Iterator[Tap]:
    running = start_tap(tmp_path, database_url, TAP_APPROVAL_TIMEOUT_SECS="60")
    yield running
    assert running.proxy.stop() == 0, running.proxy.log()


def _logs_once(tap: Tap, fragment: str) -> str:
    """``tap logs`` once the audit file (written in batches) holds ``fragment``."""

    def shown() -> str | None:
        result = tap.cli("logs")
        return result.output if result.exit_code == 0 and fragment in result.output else None

    return _wait_for(shown, f"an audit line with {fragment!r}")  # type: ignore[no-any-return]


def _wait_for(condition, what: str, timeout: float = 15):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def test_break_glass_is_recorded_in_the_audit(tap: Tap, upstream: Upstream) -> None:
    tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
    key = tap.agent("bot", "--credentials", "demo")
    tap.ok("policy", "set", "demo", "--allowed-approver", "alice@example.com")
    parked = tap.forward(key, "demo", upstream.url + "/charge", method="POST").json()
    txn = parked["txn_id"]

    refused = tap.cli("approve", txn)
    assert refused.exit_code == 1 and "--break-glass --reason TEXT" in refused.stderr
    assert tap.get(parked["poll_url"], key).json()["status"] == "pending"

    tap.ok("approve", txn, "--break-glass", "--reason", "Alice is on leave")
    final = _wait_for(
        lambda: (b := tap.get(parked["poll_url"], key).json())["status"] == "forwarded" and b,
        "the forward",
    )
    assert final["status"] == "forwarded"
    assert [r.path for r in upstream.received] == ["/charge"]
    entry = tap.logs(key, at_least=1)["entries"][0]
    assert entry["approver_identity"] == "operator (break-glass: alice is on leave)"
    shown = _logs_once(tap, "break-glass")
    assert "decided_by=operator (break-glass: alice is on leave)" in shown


def test_logs_show_the_refusal_reason(tap: Tap, upstream: Upstream) -> None:
    tap.add_credential("demo", SECRET, "--allowed-host", "api.example.com")
    key = tap.agent("bot", "--credentials", "demo")
    response = tap.forward(key, "demo", upstream.url + "/x")
    assert response.status_code == 403 and response.json()["error"] == "host_not_allowed"
    shown = _logs_once(tap, "host_not_allowed")
    assert "reason=host_not_allowed" in shown
    assert SECRET not in shown
