"""The headers a signing or sidecar credential adds to the final request.

:mod:`app.proxy.inject` renders header kinds (``api-key``, ``basic``,
``custom``) itself and hands the other kinds of :mod:`app.credential_kinds`
here. Each function takes the request as it will be sent (method, effective
URL, the agent's headers, the body) and returns the outgoing headers and the
secret texts it put in them, for the sanitizer.

NOTE: every agent copy of a header the credential sets is dropped first
(case-insensitively), so an agent can neither shadow nor pre-sign one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from app.credential_kinds import CredentialKind
from app.errors import AuthModeUnavailable, CredentialMisconfigured, InvalidCredentialValue
from app.proxy.credential_value import unsafe_in_header
from app.proxy.signing import oauth1, sigv4
from app.store.models import AuthMode, Credential

logger = logging.getLogger(__name__)

BEARER_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
"""Auto mode: an oauth1 credential with a bearer token reads with it and signs writes."""

SIDECAR_HEADERS: Final = (
    "X-OAuth-Credential",
    "X-OAuth-Target",
    "X-TAP-Method",
    "X-OAuth-Credential-Data",
)
_SIGNED_PLAIN_HEADERS: Final = frozenset({"content-type", "content-md5"})


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    """What the upstream will receive, as the signer must cover it."""

    method: str
    url: str
    headers: Sequence[tuple[str, str]]
    body: bytes


Added = tuple[list[tuple[str, str]], list[tuple[str, str]]]
"""``(outgoing headers, (label, secret) pairs injected)``."""


def fields_of(credential: Credential, kind: CredentialKind, raw: str) -> dict[str, str]:
    """The stored value's fields, checked against its kind again at use.

    Raises:
        CredentialMisconfigured: the stored value no longer fits its kind
            (it was written before a rule existed, or by hand); names the field.
    """
    try:
        fields = kind.validate(raw)
    except InvalidCredentialValue as exc:
        raise CredentialMisconfigured(
            f"Credential '{credential.name}' does not hold a usable {kind.name} value ({exc.field})",
            credential=credential.name,
            field=exc.field,
        ) from None
    assert fields is not None  # structured kinds always yield their fields
    return fields


def oauth1_headers(
    credential: Credential, fields: Mapping[str, str], request: OutgoingRequest, mode: AuthMode
) -> Added:
    """``Authorization: OAuth ...`` (or ``Bearer`` for an app-only read), per ``X-TAP-Auth-Mode``.

    Raises:
        AuthModeUnavailable: bearer was asked for and the credential has no bearer token.
        RequestNotSignable: the form body cannot be signed.
    """
    bearer = fields.get("bearer_token")
    if mode == "bearer" and bearer is None:
        raise AuthModeUnavailable(
            f"Credential '{credential.name}' has no bearer token; it signs with OAuth 1",
            credential=credential.name,
        )
    use_bearer = bearer is not None and (
        mode == "bearer" or (mode == "auto" and request.method in BEARER_METHODS)
    )
    kept = _without(request.headers, {"authorization"})
    if use_bearer:
        assert bearer is not None
        value = f"Bearer {bearer}"
        _refuse_control_chars(credential, value)
        return [*kept, ("Authorization", value)], [(f"{credential.name}.bearer_token", bearer)]
    header = oauth1.authorization(
        request.method,
        request.url,
        request.headers,
        request.body,
        oauth1.OAuth1Key.from_fields(fields),
    )
    return [*kept, ("Authorization", header)], []


def sigv4_headers(
    credential: Credential, fields: Mapping[str, str], request: OutgoingRequest
) -> Added:
    """SigV4 ``Authorization`` and its ``X-Amz-*`` headers over the final request.

    Signed: ``host``, ``content-type``, ``content-md5`` and every ``x-amz-*``
    header the agent sends (S3 requires its ``x-amz-*`` headers signed).
    """
    kept = _without(request.headers, {"authorization", *sigv4.ADDED_HEADERS})
    covered = [
        (name, value)
        for name, value in kept
        if name.lower() in _SIGNED_PLAIN_HEADERS or name.lower().startswith("x-amz-")
    ]
    added = sigv4.sign(
        request.method, request.url, covered, request.body, sigv4.AwsKey.from_fields(fields)
    )
    injected = (
        [(f"{credential.name}.session_token", fields["session_token"])]
        if "session_token" in fields
        else []
    )
    return [*kept, *added], injected


def sidecar_headers(
    credential: Credential, raw: str, request: OutgoingRequest, agent_target: str | None
) -> Added:
    """What a sidecar is told: which credential, where to go (absolute targets), the method, the value.

    NOTE: the sidecar receives the raw value by design (it authenticates);
    it sits next to TAP, and its URL is never shown to an agent.
    """
    _refuse_control_chars(credential, raw)
    kept = _without(request.headers, {name.lower() for name in SIDECAR_HEADERS})
    added = [("X-OAuth-Credential", credential.name)]
    if agent_target is not None:
        added.append(("X-OAuth-Target", agent_target))
    added += [("X-TAP-Method", request.method), ("X-OAuth-Credential-Data", raw)]
    return [*kept, *added], [(credential.name, raw)]


def _without(
    headers: Sequence[tuple[str, str]], names: set[str] | frozenset[str]
) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in names]


def _refuse_control_chars(credential: Credential, text: str) -> None:
    if unsafe_in_header(text):
        raise CredentialMisconfigured(
            f"Credential '{credential.name}' renders a control character into a header",
            credential=credential.name,
        )
