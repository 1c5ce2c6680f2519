"""The strict JSON reader: each way a body can be malformed has its own error."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from app.errors import InvalidJson, JsonNotObject, ValidationFailed
from app.json_body import parse_object, validate


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", InvalidJson),
        (b"  \n", InvalidJson),
        (b'{"a": "\xff"}', InvalidJson),
        (b'{"a": "\xed\xa0\x80"}', InvalidJson),  # a UTF-8-encoded surrogate is not UTF-8
        (b'{"a": NaN}', InvalidJson),
        (b'{"a": Infinity}', InvalidJson),
        (b'{"a": 1, "a": 2}', InvalidJson),
        (b'{"x": {"a": 1, "a": 2}}', InvalidJson),
        (b"[" * 50_000, InvalidJson),
        (b"{'a': 1}", InvalidJson),
        (b"[]", JsonNotObject),
        (b"1", JsonNotObject),
        (b"true", JsonNotObject),
        (b"null", JsonNotObject),
        (b'"{}"', JsonNotObject),
    ],
)
def test_malformed_bodies(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        parse_object(raw)
    assert type(caught.value) is error


def test_a_strict_object_parses() -> None:
    assert parse_object(b'{"a": [1, 2.5, "\\u00e9"]}') == {"a": [1, 2.5, "\u00e9"]}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    enabled: bool = False
    count: int = 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": 42}, "name"),
        ({"name": "x", "enabled": "true"}, "enabled"),
        ({"name": "x", "enabled": 1}, "enabled"),
        ({"name": "x", "count": "3"}, "count"),
        ({"name": "x", "count": 3.0}, "count"),
        ({"name": "x", "count": True}, "count"),
        ({"name": "x", "extra": 1}, "extra"),
        ({}, "name"),
    ],
)
def test_wrong_types_are_refused_not_coerced(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate(_Model, data, what="body")
    problems = caught.value.extra["problems"]
    assert [p["field"] for p in problems] == [field]
    # NOTE: the refusal names the field, never the value sent.
    assert "true" not in str(problems) and "42" not in str(problems)
