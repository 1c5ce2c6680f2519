"""One request to an OAuth 2 token endpoint (RFC 6749 §6 refresh, §4.4 client credentials).

The token endpoint is held to the rules of any target: its host must be in
the credential's ``allowed_hosts``, it must be https (unless the credential
allows http, or loopback is allowed for development), and it goes through the
SSRF guard twice, as a request-time check and at connect time (the shared
upstream session's guarded connector). Redirects are never followed: a
``Location`` would carry the client secret to another host.

A refusal becomes :class:`~app.errors.OAuthRefreshFailed` naming the
endpoint's ``error`` code only when it is a plain RFC 6749 code; its
``error_description`` and body are never read into a message (an
authorization server may echo the secrets it was sent).

Usage::

    issued = await request_token(session, bundle, credential, allow_private=False)
    issued.access_token          # Secret
    issued.expires_in_secs       # float | None
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from app.errors import (
    HostNotAllowed,
    InvalidTarget,
    OAuthRefreshFailed,
    PlainHttpNotAllowed,
    TargetNotAllowed,
    UpstreamDnsError,
)
from app.netguard import BlockedAddress
from app.oauth2.bundle import Bundle
from app.proxy.credential_value import unsafe_in_header
from app.proxy.ssrf import check_target_host
from app.proxy.target import check_allowed_host, check_scheme, parse_absolute_url
from app.secret import Secret
from app.store.models import Credential

logger = logging.getLogger(__name__)

TOKEN_TIMEOUT_SECS: Final = 15.0
"""Longest a token request may take (requests waiting on it wait at most this long)."""
MAX_TOKEN_RESPONSE_BYTES: Final = 64 * 1024
_ERROR_CODE: Final = re.compile(r"[a-z0-9_.-]{1,64}")


@dataclass(frozen=True, slots=True, repr=False)
class IssuedToken:
    """What the endpoint issued. Its ``repr`` shows the lifetime only."""

    access_token: Secret
    expires_in_secs: float | None
    """``expires_in``; ``None`` when the endpoint did not say."""
    refresh_token: Secret | None
    """A rotated refresh token, when the endpoint issued one."""

    def __repr__(self) -> str:
        return f"IssuedToken(expires_in_secs={self.expires_in_secs!r}, secrets masked)"


async def request_token(
    session: aiohttp.ClientSession,
    bundle: Bundle,
    credential: Credential,
    *,
    allow_private: bool,
) -> IssuedToken:
    """Ask the bundle's token endpoint for an access token with the bundle's grant.

    Raises:
        OAuthRefreshFailed: the endpoint may not be called (host binding,
            scheme, SSRF), cannot be reached, refused the grant, or answered
            something that is not a bearer token.
    """
    name = credential.name
    await _check_destination(bundle, credential, allow_private=allow_private)
    form, headers = _token_request(bundle)
    try:
        async with session.post(
            URL(bundle.token_url),
            data=form,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=TOKEN_TIMEOUT_SECS),
        ) as response:
            status = response.status
            raw = await response.content.read(MAX_TOKEN_RESPONSE_BYTES + 1)
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, BlockedAddress):
            raise _failed(name, "token_url_not_allowed", "resolves to an internal address") from exc
        raise _failed(name, "unreachable", "could not be reached") from exc
    except TimeoutError as exc:
        raise _failed(name, "timeout", f"did not answer within {TOKEN_TIMEOUT_SECS:g} s") from exc
    except aiohttp.ClientError as exc:
        raise _failed(name, "unreachable", f"failed ({type(exc).__name__})") from exc
    if len(raw) > MAX_TOKEN_RESPONSE_BYTES:
        raise _failed(name, "invalid_response", "answered with an oversized body")
    body = _json_object(raw)
    if status != 200:
        code = _error_code(body) or f"http_{status}"
        logger.info("token endpoint of credential %s refused: %s (%d)", name, code, status)
        raise _failed(name, code, f"refused the {bundle.grant} grant")
    issued = _issued(body)
    if issued is None:
        raise _failed(name, "invalid_response", "did not answer with a bearer access token")
    logger.debug("token endpoint issued a token for credential %s", name)
    return issued


# -- internals -----------------------------------------------------------------------


async def _check_destination(
    bundle: Bundle, credential: Credential, *, allow_private: bool
) -> None:
    try:
        target = parse_absolute_url(bundle.token_url)
        check_allowed_host(target.host, credential.allowed_hosts, credential=credential.name)
        check_scheme(target, credential, allow_loopback_http=allow_private)
        await check_target_host(target.host, target.port, allow_private=allow_private)
    except (InvalidTarget, HostNotAllowed, PlainHttpNotAllowed, TargetNotAllowed) as exc:
        raise _failed(
            credential.name, "token_url_not_allowed", f"is refused: {exc.message}"
        ) from exc
    except UpstreamDnsError as exc:
        raise _failed(credential.name, "unreachable", "could not be resolved") from exc


def _token_request(bundle: Bundle) -> tuple[str, dict[str, str]]:
    """The form body and headers of the token request (secrets only where the grant puts them)."""
    fields: list[tuple[str, str]] = [("grant_type", bundle.grant)]
    if bundle.refresh_token is not None:
        fields.append(("refresh_token", bundle.refresh_token.reveal()))
    elif bundle.scopes:
        fields.append(("scope", " ".join(bundle.scopes)))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    if bundle.client_auth == "client_secret_basic":
        # RFC 6749 §2.3.1: each part is form-urlencoded before Basic encoding.
        pair = f"{_form_encode(bundle.client_id)}:{_form_encode(bundle.client_secret.reveal())}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    else:
        fields += [
            ("client_id", bundle.client_id),
            ("client_secret", bundle.client_secret.reveal()),
        ]
    return urlencode(fields), headers


def _form_encode(text: str) -> str:
    return quote(text, safe="").replace("%20", "+")


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        loaded = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _error_code(body: dict[str, Any] | None) -> str | None:
    """The RFC 6749 §5.2 ``error`` code, if it is a plain code (anything else is not repeated)."""
    if body is None:
        return None
    code = body.get("error")
    if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
        return code
    return "unrecognized_error" if code is not None else None


def _issued(body: dict[str, Any] | None) -> IssuedToken | None:
    if body is None:
        return None
    token = body.get("access_token")
    if not isinstance(token, str) or not token or unsafe_in_header(token) or len(token) > 16384:
        return None
    token_type = body.get("token_type", "bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        # NOTE: a DPoP or MAC token is bound to a key TAP does not hold; sending
        # it as a bearer token would fail at best.
        return None
    expires_in: Any = body.get("expires_in")
    lifetime: float | None = None
    numeric = isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
    if numeric or (isinstance(expires_in, str) and expires_in.strip().isdigit()):
        lifetime = float(expires_in)
    if lifetime is not None and not 0 < lifetime < 10 * 365 * 86400:
        lifetime = None
    refresh = body.get("refresh_token")
    rotated = (
        Secret(refresh.strip())
        if isinstance(refresh, str) and refresh.strip() and not unsafe_in_header(refresh)
        else None
    )
    return IssuedToken(access_token=Secret(token), expires_in_secs=lifetime, refresh_token=rotated)


def _failed(name: str, oauth_error: str, what: str) -> OAuthRefreshFailed:
    return OAuthRefreshFailed(
        f"The token endpoint of credential '{name}' {what} ({oauth_error}).",
        credential=name,
        oauth_error=oauth_error,
    )
