"""What TAP sends to a token endpoint, and what it accepts back."""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

import pytest

from app.oauth2 import token_endpoint
from app.oauth2.bundle import Bundle

BASE: dict[str, Any] = {
    "client_id": "id with:colon",
    "client_secret": "s3cret/+=&",
    "token_url": "https://auth.example.com/token",
}


def test_client_secret_basic_form_encodes_each_part() -> None:
    form, headers = token_endpoint._token_request(
        Bundle.from_input({**BASE, "refresh_token": "rt_1"})
    )

    assert urllib.parse.parse_qs(form) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["rt_1"],
    }
    user, _, password = base64.b64decode(headers["Authorization"][6:]).decode().partition(":")
    assert urllib.parse.unquote_plus(user) == BASE["client_id"]
    assert urllib.parse.unquote_plus(password) == BASE["client_secret"]


def test_client_credentials_with_post_authentication_and_scopes() -> None:
    form, headers = token_endpoint._token_request(
        Bundle.from_input({**BASE, "scopes": ["a", "b"], "client_auth": "client_secret_post"})
    )

    assert "Authorization" not in headers
    assert urllib.parse.parse_qs(form) == {
        "grant_type": ["client_credentials"],
        "scope": ["a b"],
        "client_id": [BASE["client_id"]],
        "client_secret": [BASE["client_secret"]],
    }


TOKEN = "at_secret_token_value"


@pytest.mark.parametrize(
    ("body", "lifetime"),
    [
        ({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 120}, 120.0),
        ({"access_token": TOKEN, "token_type": "bearer", "expires_in": "120"}, 120.0),
        ({"access_token": TOKEN}, None),  # type and lifetime left out: bearer, unknown lifetime
        ({"access_token": TOKEN, "token_type": "Bearer", "expires_in": -5}, None),
        ({"access_token": TOKEN, "token_type": "Bearer", "expires_in": True}, None),
    ],
)
def test_an_issued_token(body: dict[str, Any], lifetime: float | None) -> None:
    issued = token_endpoint._issued(body)

    assert issued is not None
    assert issued.access_token.reveal() == TOKEN
    assert issued.expires_in_secs == lifetime
    assert TOKEN not in repr(issued)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"access_token": ""},
        {"access_token": 5},
        {"access_token": "t\r\nX-Evil: 1"},  # would split the Authorization header
        {"access_token": "t", "token_type": "DPoP"},  # bound to a key TAP does not hold
        {"access_token": "t", "token_type": "mac"},
    ],
)
def test_not_a_usable_bearer_token(body: dict[str, Any] | None) -> None:
    assert token_endpoint._issued(body) is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"error": "invalid_grant", "error_description": "token rt_x revoked"}, "invalid_grant"),
        ({"error": "invalid_client"}, "invalid_client"),
        # NOTE: anything but a plain code might carry an echoed secret; it is not repeated.
        ({"error": "invalid_grant: rt_secret_value was revoked"}, "unrecognized_error"),
        ({"error": {"nested": "x"}}, "unrecognized_error"),
        ({"message": "nope"}, None),
        (None, None),
    ],
)
def test_only_a_plain_error_code_is_repeated(body: dict[str, Any] | None, code: str | None) -> None:
    assert token_endpoint._error_code(body) == code
