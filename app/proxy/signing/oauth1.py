"""OAuth 1.0a (RFC 5849) ``Authorization: OAuth ...`` headers, computed by ``oauthlib``.

The signature covers the final method, the URL (scheme, host, port, path,
query) and, for an ``application/x-www-form-urlencoded`` body, the body's
parameters (RFC 5849 section 3.4.1.3). Any other body is not part of an OAuth 1
signature and is sent as it is.

Usage::

    key = OAuth1Key.from_fields({"consumer_key": "ck", "consumer_secret": "cs", ...})
    header = authorization("POST", "https://api.x.com/2/tweets", headers, body, key)
    # 'OAuth oauth_nonce="...", oauth_timestamp="...", ..., oauth_signature="..."'

NOTE: the header carries the consumer key, the token, the nonce, the
timestamp and the signature; never a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from jwt.algorithms import RSAAlgorithm
from jwt.exceptions import InvalidKeyError
from oauthlib.oauth1 import Client

from app.errors import InvalidCredentialValue, RequestNotSignable

logger = logging.getLogger(__name__)

FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
DEFAULT_METHOD: Final = "HMAC-SHA1"


@dataclass(frozen=True, slots=True, repr=False)
class OAuth1Key:
    """The fields of an oauth1 credential that signing needs (masked in ``repr``)."""

    consumer_key: str
    consumer_secret: str | None = field(default=None)
    access_token: str | None = None
    access_token_secret: str | None = None
    signature_method: str = DEFAULT_METHOD
    rsa_private_key: str | None = None

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> OAuth1Key:
        """The key held by a validated oauth1 value (:mod:`app.credential_kinds`)."""
        return cls(
            consumer_key=fields["consumer_key"],
            consumer_secret=fields.get("consumer_secret"),
            access_token=fields.get("access_token"),
            access_token_secret=fields.get("access_token_secret"),
            signature_method=fields.get("signature_method", DEFAULT_METHOD),
            rsa_private_key=fields.get("rsa_private_key"),
        )

    def __repr__(self) -> str:
        return f"OAuth1Key(consumer_key={self.consumer_key!r}, method={self.signature_method!r}, secrets masked)"


class _Client(Client):  # type: ignore[misc]
    """oauthlib's client, with ``oauth_version`` optional (RFC 5849 section 3.1: OPTIONAL)."""

    def __init__(self, *args: Any, include_version: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._include_version = include_version

    def get_oauth_params(self, request: Any) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = super().get_oauth_params(request)
        if self._include_version:
            return params
        return [(name, value) for name, value in params if name != "oauth_version"]


def is_form(headers: Sequence[tuple[str, str]]) -> bool:
    """Whether the request's ``Content-Type`` is a urlencoded form (its parameters are signed)."""
    for name, value in headers:
        if name.lower() == "content-type":
            return value.split(";", 1)[0].strip().lower() == FORM_CONTENT_TYPE
    return False


def authorization(
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    key: OAuth1Key,
    *,
    nonce: str | None = None,
    timestamp: str | None = None,
    include_version: bool = True,
    realm: str | None = None,
) -> str:
    """The ``Authorization`` header value signing this request.

    ``nonce`` and ``timestamp`` default to fresh ones (oauthlib draws the
    nonce from ``secrets``); tests pin them to reproduce published vectors.

    Raises:
        RequestNotSignable: a form body is not UTF-8 urlencoded text.
        InvalidCredentialValue: the RSA key does not load.
    """
    form = is_form(headers) and bool(body)
    text: str | None = None
    if form:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestNotSignable(
                "A form body signed with OAuth 1 must be UTF-8 text."
            ) from None
    client = _Client(
        key.consumer_key,
        client_secret=key.consumer_secret or "",
        resource_owner_key=key.access_token,
        resource_owner_secret=key.access_token_secret or "",
        signature_method=key.signature_method,
        rsa_key=key.rsa_private_key,
        realm=realm,
        nonce=nonce,
        timestamp=timestamp,
        include_version=include_version,
    )
    try:
        _, signed, _ = client.sign(
            url,
            http_method=method,
            body=text,
            headers={"Content-Type": FORM_CONTENT_TYPE} if form else None,
        )
    except InvalidKeyError:
        raise InvalidCredentialValue(
            "value.rsa_private_key", "is not a usable RSA private key"
        ) from None
    except ValueError as exc:
        # oauthlib refuses bodies that are not urlencoded parameters; its
        # messages describe the request's shape, never a secret.
        raise RequestNotSignable(f"The request cannot be signed with OAuth 1: {exc}") from None
    logger.debug("oauth1 signature computed (%s)", key.signature_method)
    header: str = signed["Authorization"]
    return header


def check_rsa_key(pem: str) -> None:
    """Refuse an RSA key that does not load as a PEM private key.

    Raises:
        InvalidCredentialValue: naming ``value.rsa_private_key``.
    """
    try:
        loaded = RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(pem)
    except (InvalidKeyError, ValueError, TypeError):
        raise InvalidCredentialValue(
            "value.rsa_private_key", "is not a PEM-encoded RSA private key"
        ) from None
    if not hasattr(loaded, "private_numbers"):
        raise InvalidCredentialValue(
            "value.rsa_private_key", "is a public key; a private key signs"
        )
