"""The credential kind registry: one source for fields, secrecy and validation."""

from __future__ import annotations

from typing import Any

import pytest

from app.credential_kinds import KIND_NAMES, KINDS, kind_named
from app.errors import InvalidCredentialValue
from app.proxy.sanitize import credential_secret_pairs
from app.store.models import AUTH_TYPES

AWS = {"access_key_id": "AK", "secret_access_key": "sk", "region": "us-east-1", "service": "s3"}


def test_the_store_knows_exactly_the_registered_kinds() -> None:
    assert AUTH_TYPES == KIND_NAMES


@pytest.mark.parametrize(
    ("kind", "secret", "public"),
    [
        ("aws-sigv4", {"secret_access_key", "session_token"}, {"access_key_id", "region", "service"}),
        ("oauth1", {"consumer_secret", "access_token", "access_token_secret", "rsa_private_key", "bearer_token"}, {"consumer_key", "signature_method"}),
        ("oauth2", {"client_secret", "refresh_token"}, {"client_id", "token_url", "scopes", "client_auth"}),
    ],
)  # fmt: skip
def test_which_fields_are_secret(kind: str, secret: set[str], public: set[str]) -> None:
    assert set(KINDS[kind].secret_fields()) == secret
    assert set(KINDS[kind].public_fields()) == public


@pytest.mark.parametrize(
    ("value", "field"),
    [
        # not an object
        ("plain", "value"),
        ('["a"]', "value"),
        # missing, unknown, wrong type, blank
        ({k: v for k, v in AWS.items() if k != "region"}, "value.region"),
        ({**AWS, "bucket": "b"}, "value.bucket"),
        ({**AWS, "region": 1}, "value.region"),
        ({**AWS, "secret_access_key": "   "}, "value.secret_access_key"),
        # a line break would split the header it ends up in
        ({**AWS, "session_token": "tok\r\nX-Evil: 1"}, "value.session_token"),
        ({**AWS, "access_key_id": "AK ID"}, "value.access_key_id"),
    ],
)
def test_a_value_that_does_not_fit_names_the_field(value: Any, field: str) -> None:
    with pytest.raises(InvalidCredentialValue) as caught:
        KINDS["aws-sigv4"].validate(value)
    assert caught.value.field == field


def test_a_valid_value_is_trimmed_where_public_and_kept_where_secret() -> None:
    fields = KINDS["aws-sigv4"].validate(
        {**AWS, "region": " us-east-1 ", "secret_access_key": " s "}
    )
    assert fields is not None
    assert fields["region"] == "us-east-1" and fields["secret_access_key"] == " s "
    assert KINDS["aws-sigv4"].validate(
        '{"access_key_id":"AK","secret_access_key":"sk","region":"r","service":"s"}'
    )
    assert KINDS["api-key"].validate("anything") is None


def test_only_a_pem_key_may_span_lines() -> None:
    multiline = {f.name for kind in KINDS.values() for f in kind.fields if f.multiline}
    assert multiline == {"rsa_private_key"}


def test_unknown_kind() -> None:
    with pytest.raises(InvalidCredentialValue):
        kind_named("kerberos")


def test_public_fields_are_not_scrubbed_and_secret_ones_are() -> None:
    raw = '{"access_key_id":"AKIDPUBLIC","region":"us-east-1","secret_access_key":"sk-secret-1","service":"s3"}'
    labels = dict(credential_secret_pairs("s3", raw, KINDS["aws-sigv4"].public_fields()))
    assert (
        "s3.secret_access_key" in labels
        and "s3.region" not in labels
        and "s3.service" not in labels
    )
    assert "s3.region" in dict(credential_secret_pairs("s3", raw))  # without a kind: every field
