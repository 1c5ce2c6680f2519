"""An OAuth 2 credential's value: ``{client_id, client_secret, refresh_token?, token_url, scopes?}``.

A human enters it as a JSON object; :meth:`Bundle.from_input` checks each
field and names the one that is wrong. It is stored (sealed like every value)
as its canonical JSON (:meth:`Bundle.canonical`), where ``scopes`` is the
space-delimited ``scope`` string of RFC 6749 §3.3, so every stored field is a
string. :meth:`Bundle.from_stored` reads it back on the request path.

The grant follows from the fields: a ``refresh_token`` means the refresh-token
grant (RFC 6749 §6), none means client credentials (§4.4).

Usage::

    bundle = Bundle.from_input({"client_id": "app", "client_secret": "s3cret",
                                "token_url": "https://auth.example.com/token",
                                "scopes": ["read", "write"]})
    bundle.grant                  # "client_credentials"
    bundle.canonical()            # '{"client_id":"app",...,"scopes":"read write",...}'
    repr(bundle)                  # secrets masked
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from app.errors import CredentialMisconfigured, InvalidCredentialValue
from app.proxy.target import host_matches
from app.secret import Secret

Grant = Literal["refresh_token", "client_credentials"]
ClientAuth = Literal["client_secret_basic", "client_secret_post"]
CLIENT_AUTH_METHODS: Final[tuple[ClientAuth, ...]] = ("client_secret_basic", "client_secret_post")

FIELDS: Final = frozenset(
    {"client_id", "client_secret", "refresh_token", "token_url", "scopes", "client_auth"}
)
MAX_FIELD_CHARS: Final = 8192
MAX_SCOPES: Final = 64

# RFC 6749 appendix A: client_id is VSCHAR*, a scope token NQCHAR+ (no space,
# no quote, no backslash). The secrets are checked for what would break a
# header or a form body: control characters.
_VSCHAR: Final = re.compile(r"[\x20-\x7e]+")
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True, repr=False)
class Bundle:
    """A validated OAuth 2 credential value. The secrets are :class:`~app.secret.Secret`."""

    client_id: str
    client_secret: Secret
    token_url: str
    refresh_token: Secret | None = None
    scopes: tuple[str, ...] = ()
    client_auth: ClientAuth = "client_secret_basic"
    """How the client authenticates at the token endpoint (RFC 6749 §2.3.1; Basic by default)."""

    @property
    def grant(self) -> Grant:
        return "refresh_token" if self.refresh_token is not None else "client_credentials"

    @property
    def token_host(self) -> str:
        return (urlsplit(self.token_url).hostname or "").lower()

    @classmethod
    def from_input(cls, value: Mapping[str, Any]) -> Bundle:
        """Validate what a human sent.

        Raises:
            InvalidCredentialValue: a field is missing, unknown, of the wrong
                type or malformed; ``field`` names it.
        """
        unknown = sorted(set(value) - FIELDS)
        if unknown:
            raise InvalidCredentialValue(f"value.{unknown[0]}", f"unknown field {unknown[0]!r} in an oauth2 value; expected "
                + ", ".join(sorted(FIELDS)))
        client_id = _required(value, "client_id", pattern=_VSCHAR)
        client_secret = _required(value, "client_secret")
        token_url = _token_url(value)
        refresh = _text(value, "refresh_token", required=False)
        scopes = _scopes(value.get("scopes"))
        auth = value.get("client_auth", "client_secret_basic")
        if auth not in CLIENT_AUTH_METHODS:
            raise InvalidCredentialValue("value.client_auth", f"client_auth must be one of {', '.join(CLIENT_AUTH_METHODS)}")
        return cls(
            client_id=client_id,
            client_secret=Secret(client_secret),
            token_url=token_url,
            refresh_token=Secret(refresh) if refresh is not None else None,
            scopes=scopes,
            client_auth=auth,
        )

    @classmethod
    def from_stored(cls, raw: str, *, credential: str) -> Bundle:
        """Read a stored value on the request path.

        Raises:
            CredentialMisconfigured: the value is not a valid oauth2 bundle
                (it was stored before validation existed, or by hand).
        """
        try:
            loaded = json.loads(raw)
        except (ValueError, RecursionError):
            loaded = None
        if not isinstance(loaded, dict):
            raise CredentialMisconfigured(
                f"Credential '{credential}' is oauth2 but its value is not a JSON object",
                credential=credential,
            )
        try:
            return cls.from_input(loaded)
        except InvalidCredentialValue as exc:
            raise CredentialMisconfigured(
                f"Credential '{credential}' has an unusable oauth2 value: {exc.problem}",
                credential=credential,
                field=exc.field,
            ) from None

    def canonical(self) -> str:
        """The stored text: compact JSON, sorted keys, every field a string."""
        fields: dict[str, str] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret.reveal(),
            "token_url": self.token_url,
        }
        if self.refresh_token is not None:
            fields["refresh_token"] = self.refresh_token.reveal()
        if self.scopes:
            fields["scopes"] = " ".join(self.scopes)
        if self.client_auth != "client_secret_basic":
            fields["client_auth"] = self.client_auth
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    def with_refresh_token(self, refresh_token: Secret) -> Bundle:
        """The same bundle with a rotated refresh token (RFC 6749 §6)."""
        return replace(self, refresh_token=refresh_token)

    def secret_pairs(self, name: str) -> list[tuple[str, str]]:
        """What the sanitizer scrubs for this bundle: the client secret and the refresh token.

        NOTE: ``client_id``, ``token_url`` and the scopes are not secrets; a
        scope such as ``read`` would otherwise be cut out of every response.
        """
        pairs = [(f"{name}.client_secret", self.client_secret.reveal())]
        if self.refresh_token is not None:
            pairs.append((f"{name}.refresh_token", self.refresh_token.reveal()))
        return pairs

    def __repr__(self) -> str:
        return (
            f"Bundle(client_id={self.client_id!r}, token_url={self.token_url!r}, "
            f"grant={self.grant!r}, scopes={list(self.scopes)!r}, secrets masked)"
        )

    def __str__(self) -> str:
        return repr(self)


def check_token_destination(bundle: Bundle, allowed_hosts: Sequence[str]) -> None:
    """Refuse a bundle whose token endpoint is outside the credential's ``allowed_hosts``.

    The token endpoint receives the client secret and the refresh token, so
    it is held to the same host binding as the API calls.

    Raises:
        InvalidCredentialValue: the token host matches no allowed host (field ``token_url``).
    """
    if allowed_hosts and not any(host_matches(bundle.token_host, p) for p in allowed_hosts):
        raise InvalidCredentialValue("value.token_url", f"token_url host '{bundle.token_host}' is not in allowed_hosts; add it there")


def oauth2_value(raw: str | Mapping[str, Any], allowed_hosts: Sequence[str]) -> str:
    """What a human entered for an oauth2 credential, validated, as the text to seal.

    ``raw`` is the JSON object (or its text, as a CLI reads it from a file).

    Raises:
        InvalidCredentialValue: not a JSON object, a field is wrong, or the
            token endpoint is outside ``allowed_hosts``.
    """
    loaded: Any = raw
    if isinstance(raw, str):
        try:
            loaded = json.loads(raw)
        except (ValueError, RecursionError):
            loaded = None
    if not isinstance(loaded, Mapping):
        raise InvalidCredentialValue("value", "an oauth2 value is a JSON object {client_id, client_secret, token_url, "
            "refresh_token?, scopes?}")
    bundle = Bundle.from_input(loaded)
    check_token_destination(bundle, allowed_hosts)
    return bundle.canonical()


# -- internals -----------------------------------------------------------------------


def _text(
    value: Mapping[str, Any],
    field: str,
    *,
    required: bool = True,
    pattern: re.Pattern[str] | None = None,
) -> str | None:
    raw = value.get(field)
    if raw is None:
        if required:
            raise InvalidCredentialValue(f"value.{field}", f"{field} is required for an oauth2 value")
        return None
    if not isinstance(raw, str):
        raise InvalidCredentialValue(f"value.{field}", f"{field} must be a string")
    text = raw.strip()
    if not text:
        if required:
            raise InvalidCredentialValue(f"value.{field}", f"{field} must not be empty")
        return None
    if len(text) > MAX_FIELD_CHARS:
        raise InvalidCredentialValue(f"value.{field}", f"{field} is longer than {MAX_FIELD_CHARS} characters")
    if _CONTROL.search(text) or (pattern is not None and not pattern.fullmatch(text)):
        raise InvalidCredentialValue(f"value.{field}", f"{field} holds characters it may not hold")
    return text


def _required(
    value: Mapping[str, Any], field: str, *, pattern: re.Pattern[str] | None = None
) -> str:
    text = _text(value, field, pattern=pattern)
    assert text is not None  # _text raises for a missing required field
    return text


def _token_url(value: Mapping[str, Any]) -> str:
    url = _required(value, "token_url")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidCredentialValue("value.token_url", "token_url must be an https URL (plain http only where the credential allows it)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidCredentialValue("value.token_url", "token_url must not carry user info")
    if parts.fragment:
        raise InvalidCredentialValue("value.token_url", "token_url must not carry a fragment")
    try:
        parts.port  # noqa: B018 -- parsing the port is the check
    except ValueError:
        raise InvalidCredentialValue("value.token_url", "token_url has an invalid port") from None
    return url


def _scopes(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        items: list[Any] = raw.split()
    elif isinstance(raw, list):
        items = raw
    else:
        raise InvalidCredentialValue("value.scopes", "scopes must be a list of strings (or one space-separated string)")
    if len(items) > MAX_SCOPES:
        raise InvalidCredentialValue("value.scopes", f"at most {MAX_SCOPES} scopes")
    scopes: list[str] = []
    for item in items:
        if not isinstance(item, str) or not _SCOPE_TOKEN.fullmatch(item):
            raise InvalidCredentialValue("value.scopes", "each scope is one token without spaces, quotes or backslashes")
        if item not in scopes:
            scopes.append(item)
    return tuple(scopes)
