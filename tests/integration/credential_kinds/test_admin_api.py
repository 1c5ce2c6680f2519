"""The admin API takes each kind's fields as a JSON object, checks them per kind, and never
shows a secret field back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.admin_api import Api

SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYADMINSECRET"
S3: dict[str, Any] = {
    "name": "s3",
    "auth_type": "aws-sigv4",
    "allowed_hosts": ["s3.amazonaws.com"],
    "value": {
        "access_key_id": "AKIDADMIN",
        "secret_access_key": SECRET_KEY,
        "region": "eu-west-1",
        "service": "s3",
    },
}


async def test_a_multi_field_credential_is_created_from_a_json_object(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    created = await api.call("POST", "/team/credentials", owner.token, json=S3)
    assert created.status == 201, created.body
    assert created.body["value_hint"] == "{access_key_id, region, secret_access_key, service}"
    one = await api.call("GET", "/team/credentials/s3", owner.token)
    assert one.body["auth_type"] == "aws-sigv4" and one.body["connector"] == "direct"
    assert SECRET_KEY not in json.dumps([created.body, one.body])

    # A replaced value is checked against the kind too (here: a field it does not have).
    patched = await api.call(
        "PATCH", "/team/credentials/s3/secret", owner.token, json={"value_patch": {"bucket": "b"}}
    )
    assert patched.status == 400 and patched.body["error"] == "invalid_credential_value"
    assert patched.body["field"] == "value.bucket"
    rotated = await api.call(
        "PATCH",
        "/team/credentials/s3/secret",
        owner.token,
        json={"value_patch": {"session_token": "FwoGZXIvYXdzROTATED0123"}},
    )
    assert rotated.status == 200, rotated.body


@pytest.mark.parametrize(
    ("auth_type", "value", "field"),
    [
        # a required field is missing
        ("aws-sigv4", {"access_key_id": "AK", "region": "us-east-1", "service": "s3"}, "value.secret_access_key"),
        # a field of another kind
        ("aws-sigv4", {**S3["value"], "client_id": "c"}, "value.client_id"),
        # a string where an object is needed
        ("aws-sigv4", "AKID:SECRET", "value"),
        # a region that cannot be part of a credential scope
        ("aws-sigv4", {**S3["value"], "region": "us east/1"}, "value.region"),
        # OAuth 1: an HMAC method without its consumer secret
        ("oauth1", {"consumer_key": "ck"}, "value.consumer_secret"),
        # OAuth 1: a token without its secret
        ("oauth1", {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "t"}, "value.access_token_secret"),
        # OAuth 1: a method it does not know
        ("oauth1", {"consumer_key": "ck", "consumer_secret": "cs", "signature_method": "PLAINTEXT"}, "value.signature_method"),
        # OAuth 1: RSA without a usable key
        ("oauth1", {"consumer_key": "ck", "signature_method": "RSA-SHA1", "rsa_private_key": "not a key"}, "value.rsa_private_key"),
        # OAuth 2: the fields the CLI asks for
        ("oauth2", {"client_id": "c", "client_secret": "s"}, "value.token_url"),
    ],
)  # fmt: skip
async def test_each_field_is_checked(api: Api, auth_type: str, value: Any, field: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    body = {
        "name": "c",
        "auth_type": auth_type,
        "allowed_hosts": ["api.example.com"],
        "value": value,
    }
    reply = await api.call("POST", "/team/credentials", owner.token, json=body)
    assert reply.status == 400, reply.body
    assert reply.body["error"] == "invalid_credential_value" and reply.body["field"] == field
    secret_texts = [
        v for v in (value.values() if isinstance(value, dict) else [value]) if len(v) > 3
    ]
    for text in secret_texts:
        assert text not in reply.body["message"]


async def test_oauth2_and_sidecar_shapes(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    oauth2 = {
        "name": "graph",
        "auth_type": "oauth2",
        "allowed_hosts": ["graph.microsoft.com", "login.example.com"],
        "value": {
            "client_id": "cid",
            "client_secret": "client-secret-0123456789",
            "token_url": "https://login.example.com/token",
            "scopes": "Mail.Read offline_access",
        },
    }
    assert (await api.call("POST", "/team/credentials", owner.token, json=oauth2)).status == 201
    sidecar = {"name": "mail", "auth_type": "sidecar", "relative_target": True, "value": "v" * 20}
    missing = await api.call("POST", "/team/credentials", owner.token, json=sidecar)
    assert missing.status == 400 and missing.body["field"] == "api_base"
    sidecar["api_base"] = "http://connector.internal:8080"
    made = await api.call("POST", "/team/credentials", owner.token, json=sidecar)
    assert made.status == 201, made.body
    one = await api.call("GET", "/team/credentials/mail", owner.token)
    assert one.body["connector"] == "sidecar"
