"""Put a credential's secret into the outgoing headers.

Header kinds (``api-key``, ``basic``, ``custom``) are rendered here; signing
kinds (``oauth1``, ``aws-sigv4``) and sidecars go through
:mod:`app.proxy.kind_headers`, chosen by the credential's kind
(:mod:`app.credential_kinds`). For header kinds:

* No ``auth_bindings``: every agent ``Authorization`` header is removed and
  ``Authorization: <auth_header_format>`` is added (``Bearer {value}`` when no
  format is set; ``Basic base64(user:pass)`` for ``auth_type == "basic"``).
* With ``auth_bindings``: agent headers with a bound name are removed (other
  agent headers, ``Authorization`` included, pass through) and each binding
  adds ``<header>: <rendered format>`` in order.

The template language::

    {value}                 the raw value (a JSON object's raw JSON text)
    {value.field}           a string field of a JSON-object value
    {base64(<expr>)}        standard base64 of <expr>, where <expr> mixes
                            literal text with value / value.field references

Usage::

    injection = inject(headers, credential, Secret('{"username":"u","password":"p"}'))
    injection.headers    # [..., ("Authorization", "Basic dTpw")]
    injection.injected   # (("name.username", "u"), ("name.password", "p"), ...)

``injected`` lists every secret string that left TAP in a header, including
rendered base64 forms, so the sanitizer can scrub each of them. Both are
:class:`~app.secret.SecretPairs`: they print names, never values. The stage's
:func:`run` injects directly in unified mode and hands placeholder mode to
:func:`app.proxy.placeholders.substitute`.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from app.credential_kinds import KINDS, CredentialKind
from app.errors import (
    AuthModeUnavailable,
    CredentialFieldMissing,
    CredentialMisconfigured,
    CredentialNotConfigured,
    CredentialUnreadable,
    CryptoError,
    MultiSecretUnbound,
)
from app.oauth2 import tokens as oauth2_tokens
from app.proxy.context import ForwardContext
from app.proxy.credential_value import CredentialValue, unsafe_in_header
from app.proxy.kind_headers import (
    SIDECAR_HEADERS,
    OutgoingRequest,
    fields_of,
    oauth1_headers,
    sidecar_headers,
    sigv4_headers,
)
from app.proxy.placeholders import substitute
from app.proxy.sanitize import credential_secret_pairs
from app.secret import Secret, SecretPairs
from app.store.credentials import open_value
from app.store.models import Credential

logger = logging.getLogger(__name__)

DEFAULT_AUTH_FORMAT: Final = "Bearer {value}"
BASIC_FORMAT_FIELDS: Final = "Basic {base64(value.username:value.password)}"
BASIC_FORMAT_PLAIN: Final = "Basic {base64(value)}"

_TEMPLATE_TOKEN: Final = re.compile(r"\{base64\(([^(){}]*)\)\}|\{value(?:\.([A-Za-z0-9_-]+))?\}")
_EXPR_REFERENCE: Final = re.compile(r"value(?:\.([A-Za-z0-9_-]+))?")
_LEFTOVER: Final = re.compile(r"\{value|\{base64\(")
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True, slots=True)
class Injection:
    """The outgoing headers and what secret material they carry (both print names only)."""

    headers: SecretPairs
    """The agent's headers minus the replaced ones, plus the injected ones at the end."""
    injected: SecretPairs
    """``(label, secret text)`` pairs; label is the credential name or ``name.field``."""


def injected_header_names(credential: Credential) -> tuple[str, ...]:
    """The headers injection sets for ``credential`` (what an approver is told TAP adds)."""
    injection = kind_of(credential).injection
    if injection == "aws-sigv4":
        return ("X-Amz-Content-SHA256", "X-Amz-Date", "X-Amz-Security-Token", "Authorization")
    if injection == "sidecar":
        return SIDECAR_HEADERS
    if credential.auth_bindings and injection == "header":
        return tuple(binding.header for binding in credential.auth_bindings)
    return ("Authorization",)


def inject(headers: Sequence[tuple[str, str]], credential: Credential, value: Secret) -> Injection:
    """Render the credential's headers and merge them into ``headers``.

    Raises:
        CredentialNotConfigured: the value is empty.
        MultiSecretUnbound: a JSON-object value has neither bindings nor a
            format (and is not a basic credential).
        CredentialFieldMissing: a template names a field the value lacks, or
            is left with ``{value.`` / ``{base64(`` it cannot resolve.
        CredentialMisconfigured: a bound header name is not an HTTP token, or
            the rendered value holds a control character.

    NOTE: no message contains the value; they name the credential and field.
    """
    parsed = CredentialValue.parse(value.reveal())
    if not parsed.raw:
        raise CredentialNotConfigured(
            f"Credential '{credential.name}' has no value", credential=credential.name
        )
    collector = _Collector()
    rendered: list[tuple[str, str]] = []
    if credential.auth_bindings:
        for binding in credential.auth_bindings:
            if not _HEADER_NAME.fullmatch(binding.header):
                raise CredentialMisconfigured(
                    f"Credential '{credential.name}' binds an invalid header name",
                    credential=credential.name,
                )
            text = _render(binding.format, parsed, credential.name, collector)
            rendered.append((binding.header, text))
    else:
        template = _default_format(credential, parsed)
        rendered.append(("Authorization", _render(template, parsed, credential.name, collector)))
    for name, text in rendered:
        if unsafe_in_header(text):
            raise CredentialMisconfigured(
                f"Credential '{credential.name}' renders a control character into header '{name}'",
                credential=credential.name,
            )
    replaced = {name.lower() for name, _ in rendered}
    # NOTE: agent copies of injected headers are dropped so they cannot spoof
    # or shadow the real one (case-insensitively, every copy).
    kept = [(name, text) for name, text in headers if name.lower() not in replaced]
    logger.debug("injected %d header(s) for credential %s", len(rendered), credential.name)
    return Injection(headers=SecretPairs(kept + rendered), injected=collector.pairs())


def _render(template: str, value: CredentialValue, name: str, collector: _Collector) -> str:
    """Render one template in a single pass (secret text is never re-scanned).

    Raises:
        CredentialFieldMissing: a reference cannot be resolved, or template
            syntax is left over.
        CredentialMisconfigured: an empty ``{base64()}``.
    """
    leftover = _LEFTOVER.search(_TEMPLATE_TOKEN.sub("", template))
    if leftover is not None:
        raise CredentialFieldMissing(
            f"Credential '{name}' has a binding with an unresolved template", credential=name
        )

    def substitute(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression is None:
            return _reference(match.group(2), value, name, collector)
        if not expression:
            raise CredentialMisconfigured(
                f"Credential '{name}' has an empty {{base64()}} in a binding", credential=name
            )
        references = 0

        def inner(ref: re.Match[str]) -> str:
            nonlocal references
            references += 1
            return _reference(ref.group(1), value, name, collector)

        plain = _EXPR_REFERENCE.sub(inner, expression)
        encoded = base64.b64encode(plain.encode()).decode("ascii")
        if references:
            collector.add(name, plain)
            collector.add(name, encoded)
        return encoded

    return _TEMPLATE_TOKEN.sub(substitute, template)


# -- internals -----------------------------------------------------------------------


class _Collector:
    """Ordered, de-duplicated ``(label, secret)`` pairs."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, str], None] = {}

    def add(self, label: str, text: str) -> None:
        if text:
            self._pairs[(label, text)] = None

    def pairs(self) -> SecretPairs:
        return SecretPairs(self._pairs)


def _reference(field: str | None, value: CredentialValue, name: str, collector: _Collector) -> str:
    if field is None:
        collector.add(name, value.raw)
        return value.raw
    if value.fields is None or field not in value.fields:
        raise CredentialFieldMissing(
            f"Credential '{name}' has no string field '{field}' for its binding",
            credential=name,
            field=field,
        )
    text = value.fields[field]
    collector.add(f"{name}.{field}", text)
    return text


def _default_format(credential: Credential, value: CredentialValue) -> str:
    if credential.auth_header_format:
        return credential.auth_header_format
    if credential.auth_type == "basic":
        if value.is_object:
            return BASIC_FORMAT_FIELDS
        if ":" not in value.raw:
            raise CredentialFieldMissing(
                f"Basic credential '{credential.name}' needs 'user:pass' or a "
                '{"username","password"} object',
                credential=credential.name,
            )
        return BASIC_FORMAT_PLAIN
    if value.is_object:
        # NOTE: never guess where the fields of a multi-secret value go, and
        # never send the whole JSON blob as a bearer token.
        raise MultiSecretUnbound(
            f"Credential '{credential.name}' holds several secrets but has no binding "
            "saying where each goes",
            credential=credential.name,
        )
    return DEFAULT_AUTH_FORMAT


async def _open(ctx: ForwardContext, credential: Credential) -> Secret:
    keys = await ctx.rt.keys_for(credential.key_version)
    try:
        value = open_value(keys, credential)
    except CryptoError:
        raise CredentialUnreadable(f"Credential '{credential.name}' cannot be decrypted.") from None
    if value is None:
        raise CredentialNotConfigured(f"Credential '{credential.name}' value not configured.")
    return value


async def run(ctx: ForwardContext) -> ForwardContext:
    """Pipeline stage: the secret goes in here, and only here.

    An OAuth 2 credential's value is a bundle that never leaves TAP except to
    its token endpoint: what goes upstream is its access token, rendered like
    any value (``Bearer {value}`` unless a format or binding says otherwise).
    """
    values = {credential.name: await _open(ctx, credential) for credential in ctx.credentials}
    secrets: list[tuple[str, str]] = []
    for credential in ctx.credentials:
        value = values[credential.name]
        if credential.auth_type == "oauth2":
            secrets += oauth2_tokens.secret_pairs(credential, value)
        else:
            secrets += credential_secret_pairs(
                credential.name, value.reveal(), kind_of(credential).public_fields()
            )
    if ctx.credential_name is not None:
        credential = ctx.credentials[0]
        value = values[credential.name]
        if credential.auth_type == "oauth2":
            token = await oauth2_tokens.current_token(ctx.rt, credential)
            ctx.oauth2_token = token.value
            secrets += token.bundle_secrets
            injection = inject(ctx.forward_headers, credential, token.value)
        else:
            injection = _inject_kind(ctx, credential, value)
        ctx.upstream_headers, injected = injection.headers, injection.injected
    else:
        substitution = substitute(ctx.forward_headers, values)
        ctx.upstream_headers, injected = substitution.headers, substitution.injected
    ctx.secrets = SecretPairs([*secrets, *injected])
    return ctx


def kind_of(credential: Credential) -> CredentialKind:
    """The credential's kind; a label this build does not know injects as a plain header."""
    return KINDS.get(credential.auth_type, KINDS["api-key"])


def _inject_kind(ctx: ForwardContext, credential: Credential, value: Secret) -> Injection:
    """Unified mode: the injector the credential's kind names (:mod:`app.credential_kinds`)."""
    kind = kind_of(credential)
    if kind.injection == "header":
        if ctx.auth_mode == "oauth1":
            raise AuthModeUnavailable(
                f"Credential '{credential.name}' is a {kind.name} credential; it cannot sign with OAuth 1",
                credential=credential.name,
            )
        return inject(ctx.forward_headers, credential, value)
    raw = value.reveal()
    if not raw:
        raise CredentialNotConfigured(
            f"Credential '{credential.name}' has no value", credential=credential.name
        )
    request = OutgoingRequest(ctx.method, ctx.target_url, ctx.forward_headers, ctx.body)
    if kind.injection == "sidecar":
        agent_target = None if credential.relative_target else ctx.raw_target
        headers, injected = sidecar_headers(credential, raw, request, agent_target)
    elif kind.injection == "oauth1":
        fields = fields_of(credential, kind, raw)
        headers, injected = oauth1_headers(credential, fields, request, ctx.auth_mode)
    elif kind.injection == "aws-sigv4":
        if ctx.auth_mode != "auto":
            raise AuthModeUnavailable(
                f"Credential '{credential.name}' signs with AWS SigV4 only; drop X-TAP-Auth-Mode",
                credential=credential.name,
            )
        fields = fields_of(credential, kind, raw)
        headers, injected = sigv4_headers(credential, fields, request)
    else:
        # NOTE: OAuth 2 is injected by run() with its access token; its bundle is never sent.
        raise CredentialMisconfigured(
            f"Credential '{credential.name}' has no injector for kind {kind.name}",
            credential=credential.name,
        )
    logger.debug("%s injection for credential %s", kind.injection, credential.name)
    return Injection(headers=SecretPairs(headers), injected=SecretPairs(dict.fromkeys(injected)))


async def reauthorize(ctx: ForwardContext) -> bool:
    """After an upstream 401 to an injected OAuth 2 token, inject a replacement, once.

    Returns whether the request should be sent again. The rejected token is
    still scrubbed from the response.

    Raises:
        OAuthRefreshFailed: the token endpoint refused a new token.
    """
    rejected = ctx.oauth2_token
    if rejected is None or ctx.credential_name is None:
        return False
    # NOTE: cleared first, so a second 401 can never lead to a second retry.
    ctx.oauth2_token = None
    credential = ctx.credentials[0]
    token = await oauth2_tokens.refresh_after_rejection(ctx.rt, credential, rejected=rejected)
    injection = inject(ctx.forward_headers, credential, token.value)
    ctx.upstream_headers = injection.headers
    ctx.secrets = SecretPairs([*ctx.secrets, *token.bundle_secrets, *injection.injected])
    logger.info("credential %s: upstream said 401; retrying once with a new token", credential.name)
    return True
