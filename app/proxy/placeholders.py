"""Placeholder mode: ``<CREDENTIAL:name>`` and ``<CREDENTIAL:name.field>`` in headers.

Syntax: ``NAME`` and ``FIELD`` are one or more of ``[A-Za-z0-9_-]``; anything
else (``<CREDENTIAL:>``, ``<CREDENTIAL>``, an unclosed ``<CREDENTIAL:x``) is
not a placeholder and is forwarded literally. A header may hold several.

Where they may stand (:func:`check_positions`):

* a field reference (``name.field``) in any header;
* never a credential TAP signs with (``oauth1``, ``aws-sigv4``, ``oauth2``,
  ``sidecar``): those are used only through ``X-TAP-Credential``;
* a plain reference (``name``) only in an auth header: ``Authorization``,
  ``X-Api-Key`` or ``X-Auth-Token``; if the credential has ``auth_bindings``,
  only in its bound headers instead;
* never in the URL, the query string or the body.

Usage::

    refs = check_positions(headers, credentials_by_name, target=raw_target, body=body)
    result = substitute(headers, {"github": Secret("ghp_...")})
    result.headers, result.injected
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NoReturn
from urllib.parse import unquote, unquote_plus

from app.credential_kinds import KINDS
from app.errors import CredentialMisconfigured, PlaceholderViolation
from app.proxy.context import ForwardContext
from app.proxy.credential_value import CredentialValue, unsafe_in_header
from app.secret import Secret, SecretPairs
from app.store.models import Credential

logger = logging.getLogger(__name__)

PLACEHOLDER: Final = re.compile(r"<CREDENTIAL:([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?>")
_PLACEHOLDER_BYTES: Final = re.compile(rb"<CREDENTIAL:([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?>")

AUTH_HEADERS: Final = frozenset({"authorization", "x-api-key", "x-auth-token"})
"""Where a plain reference may stand for a credential without bindings."""


@dataclass(frozen=True, slots=True)
class PlaceholderRef:
    """One placeholder found in a header."""

    name: str
    field: str | None
    header: str
    """The header it stands in, as the agent spelled it."""

    @property
    def label(self) -> str:
        """``name`` or ``name.field``: the sanitizer label for what it injects."""
        return self.name if self.field is None else f"{self.name}.{self.field}"


@dataclass(frozen=True, slots=True)
class Substitution:
    """Headers with placeholders replaced, and what secret text went into them (both print names only)."""

    headers: SecretPairs
    injected: SecretPairs
    """``(label, secret text)`` pairs for the sanitizer, in order, de-duplicated."""


def find_placeholders(text: str) -> list[tuple[str, str | None]]:
    """Every ``(name, field)`` placeholder in ``text``, in order."""
    return [(match.group(1), match.group(2)) for match in PLACEHOLDER.finditer(text)]


def check_positions(
    headers: Sequence[tuple[str, str]],
    credentials: Mapping[str, Credential],
    *,
    target: str,
    body: bytes,
) -> list[PlaceholderRef]:
    """Refuse placeholders where secrets may not go; return those in headers.

    ``credentials`` maps names to the credentials this agent may list (a name
    missing from it is judged by the default auth headers). The returned list
    keeps order and duplicates, for the access check and the audit.

    Raises:
        PlaceholderViolation: a placeholder in the URL, query, body or a header
            name, or a plain reference outside an allowed auth header. The
            message names the credential and where it was found.
    """
    _check_target(target)
    refs: list[PlaceholderRef] = []
    for header, value in headers:
        for name, _field in find_placeholders(header):
            _violation(name, f"the name of header '{header}'")
        for name, field in find_placeholders(value):
            _refuse_signing_kind(credentials.get(name))
            if field is None and header.lower() not in _plain_positions(credentials.get(name)):
                _violation(name, f"header '{header}', which is not an allowed auth header for it")
            refs.append(PlaceholderRef(name=name, field=field, header=header))
    match = _PLACEHOLDER_BYTES.search(body)
    if match is not None:
        # NOTE: TAP never substitutes into bodies, so this only makes the
        # mistake loud instead of forwarding the literal placeholder.
        _violation(match.group(1).decode("ascii"), "the request body")
    logger.debug("placeholder positions checked: %d reference(s)", len(refs))
    return refs


def substitute(headers: Sequence[tuple[str, str]], values: Mapping[str, Secret]) -> Substitution:
    """Replace placeholders in header values with the secrets in ``values``.

    A plain reference to a JSON-object value, a field reference to a missing
    or non-string field, and an unknown name all stay literal.

    Raises:
        CredentialMisconfigured: a substituted secret would put a control
            character (CR, LF, ...) into a header.
    """
    parsed = {name: CredentialValue.parse(secret.reveal()) for name, secret in values.items()}
    injected: dict[tuple[str, str], None] = {}
    out: list[tuple[str, str]] = []

    def replace(match: re.Match[str]) -> str:
        name, field = match.group(1), match.group(2)
        value = parsed.get(name)
        if value is None or not value.raw:
            return match.group(0)
        if field is None:
            if value.is_object:
                # NOTE: a plain reference never injects a whole JSON blob.
                return match.group(0)
            text, label = value.raw, name
        else:
            if value.fields is None or field not in value.fields:
                return match.group(0)
            text, label = value.fields[field], f"{name}.{field}"
        if unsafe_in_header(text):
            raise CredentialMisconfigured(
                f"Credential '{name}' would put a control character into a header",
                credential=name,
            )
        if text:
            injected[(label, text)] = None
        return text

    for header, value in headers:
        out.append((header, PLACEHOLDER.sub(replace, value)))
    return Substitution(headers=SecretPairs(out), injected=SecretPairs(injected))


# -- internals -----------------------------------------------------------------------


def _refuse_signing_kind(credential: Credential | None) -> None:
    """Refuse any reference to a credential TAP signs or authenticates with.

    NOTE: an oauth1, aws-sigv4, oauth2 or sidecar credential is used by TAP,
    never handed out: a field placed in a header would travel unsigned to any
    allowed host, e.g. into the metadata of an attacker's public bucket on the
    same S3 endpoint. Only header kinds (api-key, basic, custom) may be placed.
    """
    if credential is None:
        return
    kind = KINDS.get(credential.auth_type)
    if kind is not None and kind.injection != "header":
        raise PlaceholderViolation(
            f"Credential '{credential.name}' is a {kind.name} credential; TAP signs with it "
            "and never places its fields. Name it in X-TAP-Credential instead.",
            credential=credential.name,
            location="header",
        )


def _plain_positions(credential: Credential | None) -> frozenset[str]:
    if credential is not None and credential.auth_bindings:
        return frozenset(binding.header.lower() for binding in credential.auth_bindings)
    return AUTH_HEADERS


def _check_target(target: str) -> None:
    path, _, query = target.partition("?")
    # The decoded forms are checked too: "%3CCREDENTIAL:x%3E" is the same mistake.
    for text in (path, unquote(path)):
        for name, _field in find_placeholders(text):
            _violation(name, "the URL")
    for text in (query, unquote_plus(query)):
        for name, _field in find_placeholders(text):
            _violation(name, "the query string")


def _violation(name: str, location: str) -> NoReturn:
    raise PlaceholderViolation(
        f"Credential '{name}' found in {location}", credential=name, location=location
    )


async def run(ctx: ForwardContext) -> ForwardContext:
    """Pipeline stage (placeholder mode): references only where secrets may stand."""
    if ctx.credential_name is None:
        check_positions(
            ctx.forward_headers,
            {c.name: c for c in ctx.credentials},
            target=ctx.raw_target,
            body=ctx.body,
        )
    return ctx
