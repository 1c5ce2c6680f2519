"""When a token is due for refresh, and what is scrubbed for an oauth2 value."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from app.oauth2 import tokens
from app.secret import Secret
from tests.support.factories import make_credential

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("lifetime_secs", "due_after_secs"),
    [
        (3600, 3540),  # a minute early
        (120, 60),
        (60, 30),  # short lives: half-way
        (1, 0.5),
        (0, 0),
    ],
)
def test_refresh_is_due_before_expiry(lifetime_secs: float, due_after_secs: float) -> None:
    expires = T0 + dt.timedelta(seconds=lifetime_secs)

    assert tokens._refresh_at(T0, expires) == T0 + dt.timedelta(seconds=due_after_secs)


def test_the_secrets_of_a_bundle_are_scrubbed_not_its_public_fields() -> None:
    credential = make_credential(name="svc", auth_type="oauth2")
    value = json.dumps(
        {
            "client_id": "app",
            "client_secret": "cs_0123456789",
            "refresh_token": "rt_0123456789",
            "scopes": "read",
            "token_url": "https://auth.example.com/token",
        }
    )

    pairs = tokens.secret_pairs(credential, Secret(value))

    assert pairs == [
        ("svc", value),
        ("svc.client_secret", "cs_0123456789"),
        ("svc.refresh_token", "rt_0123456789"),
    ]


def test_a_value_that_is_not_a_bundle_is_scrubbed_whole() -> None:
    credential = make_credential(name="svc", auth_type="oauth2")

    assert tokens.secret_pairs(credential, Secret("sk_not_a_bundle")) == [
        ("svc", "sk_not_a_bundle")
    ]
