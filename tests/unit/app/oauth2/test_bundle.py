"""An OAuth 2 value: each field checked and named, stored canonical, secrets masked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.errors import CredentialMisconfigured, InvalidCredentialValue
from app.oauth2.bundle import Bundle, check_token_destination, oauth2_value

GOOD: dict[str, Any] = {
    "client_id": "app-1",
    "client_secret": "cs_very_secret_value",
    "refresh_token": "rt_very_secret_value",
    "token_url": "https://auth.example.com/oauth/token",
}


def _with(**override: Any) -> dict[str, Any]:
    value = {**GOOD, **override}
    return {k: v for k, v in value.items() if v is not None}


@pytest.mark.parametrize(
    ("override", "field"),
    [
        # required
        ({"client_id": None}, "client_id"),
        ({"client_secret": None}, "client_secret"),
        ({"token_url": None}, "token_url"),
        ({"client_secret": "   "}, "client_secret"),
        # wrong JSON types
        ({"client_id": 7}, "client_id"),
        ({"refresh_token": ["a"]}, "refresh_token"),
        ({"scopes": {"a": 1}}, "scopes"),
        ({"scopes": [1]}, "scopes"),
        # malformed
        ({"client_id": "id\u00e9"}, "client_id"),
        ({"client_secret": "a\r\nX-Evil: 1"}, "client_secret"),
        ({"token_url": "ftp://auth.example.com/token"}, "token_url"),
        ({"token_url": "https://u:p@auth.example.com/token"}, "token_url"),
        ({"token_url": "https://auth.example.com/token#x"}, "token_url"),
        ({"token_url": "https://auth.example.com:99999/token"}, "token_url"),
        ({"token_url": "not a url"}, "token_url"),
        ({"scopes": ["read write"]}, "scopes"),
        ({"scopes": ['say"hi']}, "scopes"),
        ({"client_auth": "private_key_jwt"}, "client_auth"),
        ({"client_secret": "x" * 9000}, "client_secret"),
        # not ours
        ({"consumer_key": "x"}, "consumer_key"),
    ],
)
def test_a_bad_field_is_named(override: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCredentialValue) as caught:
        Bundle.from_input(_with(**override))

    assert caught.value.field == f"value.{field}"
    assert GOOD["client_secret"] not in str(caught.value)


def test_the_grant_follows_from_the_refresh_token() -> None:
    assert Bundle.from_input(GOOD).grant == "refresh_token"
    assert Bundle.from_input(_with(refresh_token=None)).grant == "client_credentials"
    assert Bundle.from_input(_with(refresh_token="")).grant == "client_credentials"


def test_canonical_form_is_sorted_compact_and_all_strings() -> None:
    text = oauth2_value(_with(scopes=["read", "write", "read"]), ["auth.example.com"])

    assert text == json.dumps(
        {**GOOD, "scopes": "read write"}, sort_keys=True, separators=(",", ":")
    )
    assert Bundle.from_stored(text, credential="c").scopes == ("read", "write")
    # The same value typed as text (a CLI reads a file) stores alike.
    assert oauth2_value(json.dumps(_with(scopes="read write")), []) == text


def test_the_token_host_must_be_an_allowed_host() -> None:
    bundle = Bundle.from_input(GOOD)
    check_token_destination(bundle, ["*.example.com"])
    check_token_destination(bundle, [])  # unrestricted, as for targets
    with pytest.raises(InvalidCredentialValue) as caught:
        check_token_destination(bundle, ["api.example.com"])
    assert caught.value.field == "value.token_url"


@pytest.mark.parametrize("raw", ["[]", "sk_plain", '{"client_id": "x"}'])
def test_an_unusable_stored_value_is_a_misconfiguration(raw: str) -> None:
    with pytest.raises(CredentialMisconfigured):
        Bundle.from_stored(raw, credential="c")


def test_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidCredentialValue) as caught:
        oauth2_value("just-a-token", [])
    assert caught.value.field == "value"


def test_secrets_are_masked_and_only_secrets_are_scrubbed() -> None:
    bundle = Bundle.from_input(_with(scopes=["read"]))

    assert GOOD["client_secret"] not in repr(bundle)
    assert GOOD["refresh_token"] not in str(bundle)
    assert bundle.secret_pairs("c") == [
        ("c.client_secret", GOOD["client_secret"]),
        ("c.refresh_token", GOOD["refresh_token"]),
    ]
