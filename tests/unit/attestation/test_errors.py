"""Tests for attestation/errors.py."""

from __future__ import annotations

import pytest

from attestation.errors import (
    AttestationError,
    CannotVerifyError,
    FetchError,
    InputError,
    VerificationError,
)


@pytest.mark.parametrize(
    ("cls", "status", "code", "retry"),
    [
        # a check ran and failed
        (VerificationError, 1, "verification_failed", False),
        # could not check
        (CannotVerifyError, 2, "cannot_verify", False),
        (FetchError, 2, "fetch_failed", True),
        (InputError, 2, "bad_input", False),
    ],
)
def test_class_attributes(cls: type[AttestationError], status: int, code: str, retry: bool) -> None:
    assert issubclass(cls, AttestationError)
    assert (cls.status, cls.code, cls.safe_to_retry) == (status, code, retry)
    assert cls.agent_action


def test_verification_error_names_check_expected_and_actual() -> None:
    error = VerificationError("claim.iss", expected="https://a", actual="'https://b'")
    assert (error.check, error.expected, error.actual) == ("claim.iss", "https://a", "'https://b'")
    assert str(error) == "claim.iss: expected https://a, got 'https://b'"
    assert error.results == ()


def test_cannot_verify_is_not_a_verification_error() -> None:
    assert not issubclass(FetchError, VerificationError)
    assert not issubclass(VerificationError, CannotVerifyError)
