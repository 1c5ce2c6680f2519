"""Tests for attestation/_checks.py."""

from __future__ import annotations

import pytest

from attestation._checks import CheckResult, CheckRunner, Held, Report
from attestation.errors import FetchError, VerificationError


def held(name: str) -> Held[str]:
    return Held(name, "e", "a", name.upper())


def fail(name: str) -> Held[str]:
    raise VerificationError(name, expected="e", actual="x")


def test_runner_records_and_returns_values() -> None:
    runner = CheckRunner()
    assert runner.run(lambda: held("one")) == "ONE"
    assert runner.report().results == (CheckResult("one", True, "e", "a"),)
    assert runner.report().ok


def test_runner_stops_at_first_failure_and_attaches_results() -> None:
    runner = CheckRunner()
    runner.run(lambda: held("one"))
    with pytest.raises(VerificationError) as info:
        runner.run(lambda: fail("two"))
    assert info.value.results == (
        CheckResult("one", True, "e", "a"),
        CheckResult("two", False, "e", "x"),
    )


def test_runner_attaches_results_to_could_not_check() -> None:
    runner = CheckRunner()
    runner.run(lambda: held("one"))

    def unreachable() -> Held[None]:
        raise FetchError("down")

    with pytest.raises(FetchError) as info:
        runner.run(unreachable)
    assert [r.name for r in info.value.results] == ["one"]


def test_an_empty_report_cannot_exist() -> None:
    with pytest.raises(ValueError):
        Report(())
    with pytest.raises(ValueError):
        CheckRunner().report()


def test_verdict_is_computed() -> None:
    report = Report((CheckResult("a", True, "", ""), CheckResult("b", False, "", "")))
    assert not report.ok
