"""Answers as plain values, and the rules every answer of TAP follows, whoever sends it.

The Quart app and the ``POST /forward`` ASGI route (:mod:`app.proxy.asgi_route`)
both answer through this module, so an error reads the same on every path:

- :func:`answer_for` turns an exception into its answer: an
  :class:`~app.errors.ApiError` becomes its JSON body (with ``Retry-After``
  when it names one), framework HTTP errors and store errors become the API
  error they stand for (:func:`as_api_error`), and anything else becomes a
  bare 500 naming only the request id;
- :func:`http_date` is the ``Date`` an answer gets when it has none;
- :func:`log_access` writes the one access-log line per request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Final, Protocol

from quart.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from app.errors import (
    AlreadyExists,
    ApiError,
    CredentialValueRejected,
    DatabaseUnavailable,
    HeadersTooLarge,
    InvalidCredentialValue,
    InvalidInput,
    MalformedRequest,
    MethodNotAllowed,
    NameTaken,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    ResourceNotFound,
    RouteNotFound,
    ServiceUnavailable,
    StoreError,
    UnsupportedMediaType,
    ValidationFailed,
)

logger = logging.getLogger("app.access")

JSON_MEDIA_TYPE: Final = "application/json"


class StreamedBody(Protocol):
    """A body relayed as it arrives; the sender closes it however the answer ends."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """What to send: a status, the headers as given, and the whole body or a stream."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | StreamedBody


def json_answer(status: int, value: Any, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    """``value`` as a JSON answer, encoded as the Quart app's ``jsonify`` encodes it."""
    # The encoding Quart's default JSON provider uses out of debug mode (keys in
    # the order given, ASCII only, compact, one trailing newline).
    text = json.dumps(
        value,
        default=DefaultJSONProvider.default,
        ensure_ascii=True,
        sort_keys=False,
        separators=(",", ":"),
    )
    return Answer(status, [("Content-Type", JSON_MEDIA_TYPE), *headers], f"{text}\n".encode())


def error_answer(error: ApiError) -> Answer:
    """The one rendering of a refusal: its JSON body, and ``Retry-After`` when it names one."""
    retry_after = error.extra.get("retry_after_secs")
    headers = () if retry_after is None else (("Retry-After", str(retry_after)),)
    return json_answer(error.status, error.to_json(), headers)


def internal_error_answer(request_id: str | None) -> Answer:
    """The bare 500: it names the request id and nothing else."""
    return json_answer(
        500, {"error": "internal_error", "message": "Internal error.", "request_id": request_id}
    )


# Framework errors, by status, as ours. Anything else the framework raises is a 400.
_HTTP_ERRORS: Final[dict[int, type[ApiError]]] = {
    400: MalformedRequest,
    404: RouteNotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    431: HeadersTooLarge,
}


def as_api_error(error: HTTPException | StoreError | InvalidInput) -> ApiError | None:
    """The API error a framework or store error stands for; ``None`` when it is our fault (a 500).

    NOTE: a store message names the object (``credential 'x' does not
    exist``), never a value, so it is safe to pass on.
    """
    if isinstance(error, HTTPException):
        status = error.code or 500
        if status >= 500:
            return None
        kind = _HTTP_ERRORS.get(status, MalformedRequest)
        return kind(error.description or kind.code)
    if isinstance(error, InvalidCredentialValue):
        return CredentialValueRejected(str(error), field=error.field)
    if isinstance(error, InvalidInput):
        return ValidationFailed(str(error), field=error.field)
    if isinstance(error, NotFound):
        return ResourceNotFound(str(error))
    if isinstance(error, AlreadyExists):
        return NameTaken(str(error))
    if isinstance(error, DatabaseUnavailable):
        return ServiceUnavailable("The database is unavailable.")
    return None


def answer_for(error: Exception, request_id: str | None) -> Answer:
    """The answer to a request that raised ``error``. Logs what an operator must see."""
    if isinstance(error, ApiError):
        return error_answer(error)
    if isinstance(error, HTTPException | StoreError | InvalidInput):
        api_error = as_api_error(error)
        if api_error is not None:
            if isinstance(error, DatabaseUnavailable):
                logger.warning("request %s: database unavailable", request_id)
            return error_answer(api_error)
    # NOTE: the exception text may carry request data; only the id goes out.
    logger.error("request %s failed with an unexpected error", request_id, exc_info=error)
    return internal_error_answer(request_id)


# formatdate is the slowest step of an answer's headers; its value changes once a second.
_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """Now, as an HTTP ``Date`` value."""
    global _date_cache
    now = int(time.time())
    second, value = _date_cache
    if second != now:
        value = formatdate(now, usegmt=True)
        _date_cache = (now, value)
    return value


def log_access(method: str, path: str, status: int, started: float, request_id: str) -> None:
    """The access-log line of one request; nothing is formatted unless INFO is on.

    NOTE: path only; query strings and headers may carry secrets.
    """
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "%s %s -> %d in %.1f ms (request %s)",
            method,
            path,
            status,
            (time.perf_counter() - started) * 1000,
            request_id,
        )
