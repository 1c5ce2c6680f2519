"""Strict JSON request bodies: the one reader every JSON endpoint goes through.

A body is read once, capped at :data:`MAX_JSON_BODY_BYTES`, decoded as strict
UTF-8 and parsed as strict JSON (no ``NaN``/``Infinity``, no key twice in one
object), and must be an object. It is then validated against the endpoint's
pydantic model in strict mode, so a value of the wrong JSON type is refused
instead of coerced (``{"name": 42}`` is not the name ``"42"``, ``"yes"`` is not
``true``). Each way of failing has its own error code::

    body = await read_model(CredentialLinkBody)

Raises (all rendered by the app's one error handler):
    PayloadTooLarge (413): more than MAX_JSON_BODY_BYTES.
    InvalidJson (400): empty, not UTF-8, not strict JSON, or nested too deep.
    JsonNotObject (400): an array, number, string or null instead of an object.
    ValidationFailed (400): the object does not match the model; ``problems``
        lists each field and what is wrong, never the submitted value.
"""

from __future__ import annotations

import json
from typing import Any, Final, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError
from quart import request

from app.errors import InvalidJson, JsonNotObject, PayloadTooLarge, ValidationFailed

M = TypeVar("M", bound=BaseModel)

# NOTE: far above any real admin or agent body (a credential value is at most
# 64 KiB), far below the 10 MiB the app accepts for /forward.
MAX_JSON_BODY_BYTES: Final = 1024 * 1024


async def read_object() -> dict[str, Any]:
    """The current request's body as a JSON object. Raises PayloadTooLarge, InvalidJson, JsonNotObject."""
    if request.content_length is not None and request.content_length > MAX_JSON_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    # NOTE: read in chunks so an over-long chunked body is refused as soon as it passes the cap.
    async for chunk in request.body:
        size += len(chunk)
        if size > MAX_JSON_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return parse_object(b"".join(chunks))


async def read_model(model: type[M]) -> M:
    """The current request's body validated strictly as ``model``. Raises as the module says."""
    return validate(model, await read_object(), what="body")


def parse_object(raw: bytes) -> dict[str, Any]:
    """``raw`` as a strict JSON object. Raises InvalidJson or JsonNotObject."""
    if not raw.strip():
        raise InvalidJson("A JSON object body is required.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJson("The body is not valid UTF-8.") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):
        raise InvalidJson("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise JsonNotObject(f"The body must be a JSON object, not {_json_type(data)}.")
    return data


def validate(model: type[M], data: dict[str, Any], *, what: str) -> M:
    """``data`` as ``model``, strictly. Raises ValidationFailed naming the fields, never the values."""
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise ValidationFailed(f"The request {what} is invalid.", problems=problems(exc)) from None


def problems(error: ValidationError) -> list[dict[str, str]]:
    """Where and what, for each failure. NOTE: pydantic's ``input`` member would echo the value."""
    return [
        {
            "field": ".".join(str(part) for part in problem["loc"]) or "body",
            "problem": problem["msg"],
        }
        for problem in error.errors(include_url=False, include_input=False, include_context=False)
    ]


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"The body is larger than {MAX_JSON_BODY_BYTES} bytes.")


def _refuse_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON; Python's parser accepts them unless told not to.
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # NOTE: a key sent twice is read differently by different parsers (first or
    # last wins); refusing it keeps what TAP checks and what it acts on the same.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key")
        result[key] = value
    return result


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
