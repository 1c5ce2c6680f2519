from __future__ import annotations

import datetime as dt

import pytest

from app.admin.audit import decode_cursor, encode_cursor
from app.errors import ValidationFailed
from app.store.audit import Cursor


def test_cursor_round_trip_is_exact_and_url_safe() -> None:
    cursor = Cursor(dt.datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC), 42)
    encoded = encode_cursor(cursor)
    assert encoded.replace(".", "").isdigit()
    assert decode_cursor(encoded) == cursor


@pytest.mark.parametrize(
    "raw", ["", "abc", "1.2.3", "2025-01-01T00:00:00+00:00~1", "9" * 19 + ".1", "-1.1"]
)
def test_bad_cursors(raw: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(raw)
