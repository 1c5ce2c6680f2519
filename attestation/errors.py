"""The one error module of the attestation package.

Every failure the package reports is one of these classes::

    AttestationError                 base class, never raised itself
    ├── VerificationError            a check ran and did not hold (exit status 1)
    └── CannotVerifyError            a check could not be run (exit status 2)
        ├── FetchError               an endpoint was unreachable or answered badly
        └── InputError               a file or argument is unreadable or malformed

Each class carries, as class attributes, the process exit ``status`` the CLI
uses, a stable ``code`` for machines, an ``agent_action`` telling a person or a
program what to do next, and ``safe_to_retry``.  ``results`` holds the checks
that ran before the failure (the failing one last, when a check failed) so a
report can still show every step.

NOTE: a VerificationError is never downgraded to a warning anywhere in the
package.  Callers that catch it must treat the subject as unverified.
"""

from __future__ import annotations

from typing import ClassVar

from attestation._types import CheckResult

__all__ = [
    "AttestationError",
    "CannotVerifyError",
    "FetchError",
    "InputError",
    "VerificationError",
]


class AttestationError(Exception):
    """Base class of every error raised by the attestation package."""

    status: ClassVar[int] = 2
    code: ClassVar[str] = "attestation_error"
    agent_action: ClassVar[str] = "Treat the subject as unverified."
    safe_to_retry: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.results: tuple[CheckResult, ...] = ()


class VerificationError(AttestationError):
    """Raised when a check ran and did not hold.

    ``check`` names the failing check, ``expected`` and ``actual`` are short
    printable renderings of what the check wanted and what it found.
    """

    status: ClassVar[int] = 1
    code: ClassVar[str] = "verification_failed"
    agent_action: ClassVar[str] = (
        "Do not trust the instance, token or log; the failing check says why."
    )
    safe_to_retry: ClassVar[bool] = False

    def __init__(self, check: str, *, expected: str, actual: str) -> None:
        super().__init__(f"{check}: expected {expected}, got {actual}")
        self.check = check
        self.expected = expected
        self.actual = actual


class CannotVerifyError(AttestationError):
    """Raised when a check could not be run at all; nothing was verified."""

    status: ClassVar[int] = 2
    code: ClassVar[str] = "cannot_verify"
    agent_action: ClassVar[str] = "Fix the cause and run the verification again."
    safe_to_retry: ClassVar[bool] = False


class FetchError(CannotVerifyError):
    """Raised when an endpoint is unreachable, times out, redirects, answers
    with a status other than 200, or sends a body that is too large or not JSON.
    """

    code: ClassVar[str] = "fetch_failed"
    agent_action: ClassVar[str] = "Check the URL and the network, then retry."
    safe_to_retry: ClassVar[bool] = True


class InputError(CannotVerifyError):
    """Raised when a file or an argument given by the caller is unreadable or
    malformed: a missing file, bad JSON, a policy outside the supported grammar,
    a hostdata value that is not 64 hex digits.
    """

    code: ClassVar[str] = "bad_input"
    agent_action: ClassVar[str] = "Correct the named input and run again."
    safe_to_retry: ClassVar[bool] = False
