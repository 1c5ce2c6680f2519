"""The kinds of credential TAP can hold: their fields, which are secret, and how each is injected.

One registry serves every surface: the admin API validates a new value
against it, ``tap add`` asks for exactly the fields it lists (flags for
public fields, hidden prompts or a file for secret ones), the pipeline picks
the injector it names, the sanitizer scrubs the fields it marks secret, and
``/agent/services`` tells an agent how to call it. Adding a kind is one entry
here plus, for a new way of signing, one module under :mod:`app.proxy.signing`.

Usage::

    kind = kind_named("aws-sigv4")
    kind.secret_fields()        # ("secret_access_key", "session_token")
    fields = kind.validate({"access_key_id": "AKID...", ...})   # raises InvalidCredentialValue

A value is a single string for the ``fields``-less kinds (``api-key``,
``basic``, ``custom``, ``sidecar``; ``basic`` and ``custom`` may also hold a
JSON object), and a JSON object of string fields for the structured ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from app.errors import InvalidCredentialValue
from app.oauth2.bundle import Bundle
from app.proxy.signing.oauth1 import check_rsa_key

Injection = Literal["header", "oauth1", "aws-sigv4", "oauth2", "sidecar"]
"""How a kind's secret reaches the upstream (which injector :mod:`app.proxy.inject` runs)."""

Connector = Literal["direct", "sidecar"]

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class KindField:
    """One field of a structured credential value."""

    name: str
    secret: bool
    """Secret fields are prompted for (never argv) and scrubbed from every response."""
    required: bool = True
    help: str = ""
    choices: tuple[str, ...] = ()
    multiline: bool = False
    """Only a multi-line field (a PEM key) may hold line breaks; every other field ends up
    in a header, where a CR or LF would split it."""


Check = Callable[[Mapping[str, str]], None]
"""Cross-field validation of a structured value; raises :class:`InvalidCredentialValue`."""


@dataclass(frozen=True, slots=True)
class CredentialKind:
    """What a kind holds and how it is injected."""

    name: str
    summary: str
    """One line for people and agents: what the upstream sees."""
    injection: Injection
    fields: tuple[KindField, ...] = ()
    """Empty: the value is one opaque string (or, for header kinds, a free-form object)."""
    connector: Connector = "direct"
    check: Check | None = None

    @property
    def structured(self) -> bool:
        """Whether the value must be a JSON object with exactly these fields."""
        return bool(self.fields)

    def field(self, name: str) -> KindField | None:
        return next((f for f in self.fields if f.name == name), None)

    def secret_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.secret)

    def public_fields(self) -> tuple[str, ...]:
        """Fields that are not secret (ids, regions, URLs): flags in the CLI, never scrubbed."""
        return tuple(f.name for f in self.fields if not f.secret)

    def validate(self, value: str | Mapping[str, Any]) -> dict[str, str] | None:
        """Check a value against this kind; the fields of a structured value, else ``None``.

        Raises:
            InvalidCredentialValue: naming the field (``value.<field>``) that is
                missing, unknown, not a string, empty or not one of its choices,
                or ``value`` when a structured kind gets something that is not a
                JSON object. NOTE: the message never quotes a value.
        """
        if not self.structured:
            return None
        loaded: Any = value
        if isinstance(value, str):
            try:
                loaded = json.loads(value) if value.strip().startswith("{") else None
            except (ValueError, RecursionError):
                loaded = None
        if not isinstance(loaded, Mapping):
            raise InvalidCredentialValue(
                "value",
                f"a {self.name} credential is a JSON object with the fields {self._names()}",
            )
        fields: dict[str, str] = {}
        for key, item in loaded.items():
            spec = self.field(str(key))
            if spec is None:
                raise InvalidCredentialValue(
                    f"value.{key}", f"not a field of a {self.name} credential ({self._names()})"
                )
            if not isinstance(item, str):
                raise InvalidCredentialValue(f"value.{key}", "must be a string")
            if not spec.multiline and _CONTROL.search(item):
                raise InvalidCredentialValue(
                    f"value.{key}", "must not contain control characters (CR, LF, ...)"
                )
            if item.strip():
                fields[spec.name] = item.strip() if not spec.secret else item
        for spec in self.fields:
            present = spec.name in fields
            if spec.required and not present:
                raise InvalidCredentialValue(
                    f"value.{spec.name}", f"is required for a {self.name} credential"
                )
            if present and spec.choices and fields[spec.name] not in spec.choices:
                raise InvalidCredentialValue(
                    f"value.{spec.name}", f"must be one of {', '.join(spec.choices)}"
                )
        if self.check is not None:
            self.check(fields)
        return fields

    def _names(self) -> str:
        return ", ".join(f.name if f.required else f"{f.name} (optional)" for f in self.fields)


# -- per-kind checks -------------------------------------------------------------------

OAUTH1_METHODS: Final = ("HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1")


def _check_oauth1(fields: Mapping[str, str]) -> None:
    method = fields.get("signature_method", "HMAC-SHA1")
    if method == "RSA-SHA1":
        if "rsa_private_key" not in fields:
            raise InvalidCredentialValue(
                "value.rsa_private_key", "is required with signature_method RSA-SHA1"
            )
        check_rsa_key(fields["rsa_private_key"])
    elif "consumer_secret" not in fields:
        raise InvalidCredentialValue(
            "value.consumer_secret", f"is required with signature_method {method}"
        )
    if ("access_token" in fields) != ("access_token_secret" in fields):
        missing = "access_token_secret" if "access_token" in fields else "access_token"
        raise InvalidCredentialValue(
            f"value.{missing}", "access_token and access_token_secret go together"
        )


def _check_sigv4(fields: Mapping[str, str]) -> None:
    if not fields["access_key_id"].isalnum():
        raise InvalidCredentialValue("value.access_key_id", "letters and digits only (AKIA...)")
    for name in ("region", "service"):
        text = fields[name]
        if not all(c.isalnum() or c in "-_" for c in text):
            raise InvalidCredentialValue(
                f"value.{name}", "letters, digits, '-' and '_' only (e.g. us-east-1, s3)"
            )


def _check_oauth2(fields: Mapping[str, str]) -> None:
    Bundle.from_input(fields)


# -- the registry ----------------------------------------------------------------------

KINDS: Final[dict[str, CredentialKind]] = {
    kind.name: kind
    for kind in (
        CredentialKind(
            name="api-key",
            summary="One secret, sent as 'Authorization: Bearer <secret>' or by the credential's header format.",
            injection="header",
        ),
        CredentialKind(
            name="basic",
            summary="HTTP Basic: 'user:pass' or a {username, password} object.",
            injection="header",
        ),
        CredentialKind(
            name="custom",
            summary="Custom headers: each binding renders a header from the value's fields.",
            injection="header",
        ),
        CredentialKind(
            name="oauth1",
            summary="OAuth 1.0a (RFC 5849): TAP signs each request's 'Authorization: OAuth ...' header.",
            injection="oauth1",
            fields=(
                KindField("consumer_key", secret=False, help="Consumer (API) key."),
                KindField(
                    "consumer_secret",
                    secret=True,
                    required=False,
                    help="Consumer secret (HMAC methods).",
                ),
                KindField(
                    "access_token", secret=True, required=False, help="Access token (user context)."
                ),
                KindField(
                    "access_token_secret", secret=True, required=False, help="Access token secret."
                ),
                KindField(
                    "signature_method",
                    secret=False,
                    required=False,
                    help="HMAC-SHA1 (default), HMAC-SHA256 or RSA-SHA1.",
                    choices=OAUTH1_METHODS,
                ),
                KindField(
                    "rsa_private_key",
                    secret=True,
                    required=False,
                    help="PEM private key (RSA-SHA1).",
                    multiline=True,
                ),
                KindField(
                    "bearer_token",
                    secret=True,
                    required=False,
                    help="App-only bearer token, if the API has one.",
                ),
            ),
            check=_check_oauth1,
        ),
        CredentialKind(
            name="aws-sigv4",
            summary="AWS Signature Version 4: TAP signs each request, payload hash included.",
            injection="aws-sigv4",
            fields=(
                KindField("access_key_id", secret=False, help="Access key id (AKIA...)."),
                KindField("secret_access_key", secret=True, help="Secret access key."),
                KindField(
                    "session_token",
                    secret=True,
                    required=False,
                    help="Session token (temporary credentials).",
                ),
                KindField("region", secret=False, help="Region, e.g. us-east-1."),
                KindField("service", secret=False, help="Signing name of the service, e.g. s3."),
            ),
            check=_check_sigv4,
        ),
        CredentialKind(
            name="oauth2",
            summary="OAuth 2: TAP obtains and refreshes the access token and sends it as a Bearer token.",
            injection="oauth2",
            fields=(
                KindField("client_id", secret=False, help="Client id."),
                KindField("client_secret", secret=True, help="Client secret."),
                KindField(
                    "refresh_token",
                    secret=True,
                    required=False,
                    help="Refresh token (else client credentials).",
                ),
                KindField("token_url", secret=False, help="Token endpoint URL."),
                KindField("scopes", secret=False, required=False, help="Space-separated scopes."),
                KindField(
                    "client_auth",
                    secret=False,
                    required=False,
                    help="client_secret_basic (default) or client_secret_post.",
                ),
            ),
            check=_check_oauth2,
        ),
        CredentialKind(
            name="sidecar",
            summary="A sidecar service authenticates: TAP routes to its api_base with the value in a header.",
            injection="sidecar",
            connector="sidecar",
        ),
    )
}

KIND_NAMES: Final = tuple(KINDS)


def kind_named(name: str) -> CredentialKind:
    """The kind called ``name``. Raises InvalidCredentialValue for a name that is not one."""
    kind = KINDS.get(name)
    if kind is None:
        raise InvalidCredentialValue("auth", f"expected one of {', '.join(KIND_NAMES)}")
    return kind
