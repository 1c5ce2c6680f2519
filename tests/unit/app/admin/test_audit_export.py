"""CSV cells of the audit export: what a spreadsheet would evaluate stays text."""

from __future__ import annotations

from typing import Any

import pytest

from app.admin.audit_export import csv_cell, csv_lines


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        # formulas an agent could plant, in every form a spreadsheet reads
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+1+cmd", "'+1+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        # ordinary values are unchanged
        ("https://api.example.com/v1", "https://api.example.com/v1"),
        (None, ""),
        (True, "true"),
        (False, "false"),
        (200, "200"),
        (["demo", "=x"], '["demo", "=x"]'),
    ],
)
def test_csv_cell(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def test_csv_lines_quote_what_needs_quoting() -> None:
    assert csv_lines([["a,b", 'say "hi"', "x\ny"]]) == '"a,b","say ""hi""","x\ny"\r\n'
