"""Tests for attestation/_types.py: the JSON shapes match the models."""

from __future__ import annotations

from dataclasses import fields

from attestation._measurement_log import LogRow
from attestation._types import LogRowJSON


def test_log_row_json_has_the_row_fields() -> None:
    keys = set(LogRowJSON.__required_keys__) | set(LogRowJSON.__optional_keys__)
    assert keys == {field.name for field in fields(LogRow)}
    assert LogRowJSON.__optional_keys__ == frozenset({"cce_policy"})
