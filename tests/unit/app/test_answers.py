"""Framework and store errors are translated into the one API error they stand for, or a 500."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)

from app import errors
from app.answers import as_api_error


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (BadRequest(), 400, "bad_request"),
        (NotFound(), 404, "not_found"),
        (MethodNotAllowed(), 405, "method_not_allowed"),
        (RequestTimeout(), 408, "request_timeout"),
        (RequestEntityTooLarge(), 413, "payload_too_large"),
        (UnsupportedMediaType(), 415, "unsupported_media_type"),
        (RequestHeaderFieldsTooLarge(), 431, "headers_too_large"),
        (errors.InvalidInput("rate_limit", "expected a positive number"), 400, "invalid_input"),
        (errors.NotFound("credential 'x' does not exist"), 404, "not_found"),
        (errors.AlreadyExists("a credential named 'x' already exists"), 409, "already_exists"),
        (errors.DatabaseUnavailable("gone"), 503, "service_unavailable"),
    ],
)
def test_translations(
    raised: HTTPException | errors.StoreError | errors.InvalidInput, status: int, code: str
) -> None:
    translated = as_api_error(raised)
    assert translated is not None
    assert (translated.status, translated.code) == (status, code)
    assert translated.to_json()["message"]


@pytest.mark.parametrize(
    "raised", [InternalServerError(), errors.WrongEncryptionKey("no"), errors.StoreError("?")]
)
def test_our_own_faults_are_a_500(raised: HTTPException | errors.StoreError) -> None:
    assert as_api_error(raised) is None
