"""Check results, the runner that records them, and the report they make.

A verification is a fixed sequence of small named checks.  Each check is a
function that returns a :class:`Held` (what it expected, what it found, and any
value later checks need) or raises :class:`VerificationError`.  The
:class:`CheckRunner` records a :class:`CheckResult` for every check it runs,
stops at the first failure, and attaches the results so far to the error so
the CLI can print every step.  A :class:`Report` is built only from a non-empty
list of results and computes its verdict; nobody assigns it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from attestation._types import CheckResult
from attestation.errors import AttestationError, VerificationError

__all__ = ["CheckResult", "CheckRunner", "Held", "Report"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Held(Generic[T]):
    """What a check returns when it holds."""

    name: str
    expected: str
    actual: str
    value: T


@dataclass(frozen=True, slots=True)
class Report:
    """The results of a verification that ran to the end.

    Raises:
        ValueError: on construction with no results; an empty list proves nothing.
    """

    results: tuple[CheckResult, ...]

    def __post_init__(self) -> None:
        if not self.results:
            raise ValueError("a report needs at least one check result")

    @property
    def ok(self) -> bool:
        """True when every check held; computed, never stored."""
        return all(result.ok for result in self.results)


class CheckRunner:
    """Runs checks in order and records each outcome."""

    def __init__(self) -> None:
        self._results: list[CheckResult] = []

    @property
    def results(self) -> tuple[CheckResult, ...]:
        """The results recorded so far."""
        return tuple(self._results)

    def run(self, check: Callable[[], Held[T]]) -> T:
        """Run ``check``, record its result and return its value.

        Raises:
            VerificationError: the check failed; its ``results`` end with it.
            CannotVerifyError: the check could not run; ``results`` hold the
                checks that ran before it.
        """
        try:
            held = check()
        except VerificationError as exc:
            self._results.append(CheckResult(exc.check, False, exc.expected, exc.actual))
            logger.debug("check %s failed", exc.check)
            exc.results = self.results
            raise
        except AttestationError as exc:
            exc.results = self.results
            raise
        self._results.append(CheckResult(held.name, True, held.expected, held.actual))
        logger.debug("check %s held", held.name)
        return held.value

    def report(self) -> Report:
        """Return the report of every check run so far.

        Raises:
            ValueError: no check has run.
        """
        return Report(self.results)
