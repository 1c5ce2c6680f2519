"""OAuth 1.0a signatures against published vectors (tests/vectors/oauth1/), and what a header may hold."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from app.errors import InvalidCredentialValue, RequestNotSignable
from app.proxy.signing.oauth1 import OAuth1Key, authorization, check_rsa_key
from tests.support.fake_oauth1 import parse_authorization, rsa_pair

VECTORS = json.loads(
    (Path(__file__).resolve().parents[5] / "tests/vectors/oauth1/vectors.json").read_text()
)


def _sign(vector: dict[str, Any]) -> dict[str, str]:
    key = OAuth1Key(
        consumer_key=vector["consumer_key"],
        consumer_secret=vector["consumer_secret"],
        access_token=vector["access_token"],
        access_token_secret=vector["access_token_secret"],
    )
    headers = [("Content-Type", vector["content_type"])] if vector["content_type"] else []
    header = authorization(
        vector["method"],
        vector["url"],
        headers,
        vector["body"].encode(),
        key,
        nonce=vector["nonce"],
        timestamp=vector["timestamp"],
        include_version=vector["include_version"],
        realm=vector["realm"],
    )
    return parse_authorization(header)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_published_vectors(vector: dict[str, Any]) -> None:
    params = _sign(vector)
    if "signature" in vector:
        expected = vector["signature"]
    else:
        key = f"{quote(vector['consumer_secret'])}&{quote(vector['access_token_secret'])}"
        digest = hmac.new(key.encode(), vector["base_string"].encode(), hashlib.sha1).digest()
        expected = base64.b64encode(digest).decode()
    assert params["oauth_signature"] == expected
    assert params["oauth_consumer_key"] == vector["consumer_key"]
    assert ("oauth_version" in params) is vector["include_version"]


def test_the_header_carries_no_secret_and_the_key_repr_is_masked() -> None:
    key = OAuth1Key("ck", "consumer-secret-xyz", "token", "token-secret-xyz")
    header = authorization("GET", "https://api.example.com/x", [], b"", key)
    assert "consumer-secret-xyz" not in header and "token-secret-xyz" not in header
    assert "secret-xyz" not in repr(key)
    again = authorization("GET", "https://api.example.com/x", [], b"", key)
    nonces = {parse_authorization(h)["oauth_nonce"] for h in (header, again)}
    assert len(nonces) == 2  # a fresh nonce each time


def test_only_form_bodies_are_signed_and_they_must_be_text() -> None:
    key = OAuth1Key("ck", "cs")
    form = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
    with pytest.raises(RequestNotSignable):
        authorization("POST", "https://api.example.com/x", form, b"\xff\xfe", key)
    json_body = [("Content-Type", "application/json")]
    signed = authorization("POST", "https://api.example.com/x", json_body, b'{"a=b": 1}', key)
    assert unquote(parse_authorization(signed)["oauth_signature"])


def test_rsa_sha1_signs_and_a_bad_key_is_refused() -> None:
    pem, public = rsa_pair()
    check_rsa_key(pem)
    key = OAuth1Key("ck", signature_method="RSA-SHA1", rsa_private_key=pem)
    params = parse_authorization(authorization("GET", "https://api.example.com/x", [], b"", key))
    assert params["oauth_signature_method"] == "RSA-SHA1"
    for bad in ("not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"):
        with pytest.raises(InvalidCredentialValue) as caught:
            check_rsa_key(bad)
        assert caught.value.field == "value.rsa_private_key"
