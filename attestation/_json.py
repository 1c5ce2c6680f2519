"""Strict JSON parsing: one object, no duplicate members, no NaN or Infinity.

Python's ``json`` module accepts duplicate members (the last one wins) and the
non-standard constants ``NaN`` and ``Infinity``.  A verifier must not: two
parsers that disagree about a duplicate ``alg`` or ``x-ms-sevsnpvm-hostdata``
are a classic way to make a checker and a consumer see different documents.

>>> parse_object('{"a": 1}')
{'a': 1}
"""

from __future__ import annotations

import json
from typing import cast

from attestation._types import JSONObject, JSONValue

__all__ = ["parse_object"]


def _refuse_duplicates(pairs: list[tuple[str, JSONValue]]) -> JSONObject:
    obj: JSONObject = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate member {key!r}")
        obj[key] = value
    return obj


def _refuse_constant(name: str) -> JSONValue:
    raise ValueError(f"non-standard constant {name}")


def parse_object(text: str | bytes) -> JSONObject:
    """Parse ``text`` as a single JSON object.

    Raises:
        ValueError: the text is not UTF-8, not JSON, not an object, or holds a
            duplicate member or a NaN/Infinity constant.
    """
    try:
        value = json.loads(
            text,
            object_pairs_hook=_refuse_duplicates,
            parse_constant=_refuse_constant,
        )
    except UnicodeDecodeError as exc:
        raise ValueError("not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at position {exc.pos})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return cast(JSONObject, value)
