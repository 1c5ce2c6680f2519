"""Custody errors.

The tree::

    CustodyError            the master key could not be obtained; start-up stops
    └── KeyFileError        the key file is missing, unreadable or malformed

Every custody error is fatal: TAP exits non-zero and never falls back to
another key source. Messages name the step that failed and what to check;
they never contain key material.
"""

from __future__ import annotations


class CustodyError(Exception):
    """The master key could not be obtained. Fatal at start-up."""

    def __init__(self, step: str, problem: str) -> None:
        super().__init__(f"key custody failed at {step}: {problem}")
        self.step = step
        self.problem = problem


class KeyFileError(CustodyError):
    """The key file is missing, unreadable or not 64 hex characters."""
