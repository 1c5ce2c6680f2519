"""Turn an agent's ``X-TAP-Target`` into the one URL TAP will forward to.

A credential either takes full URLs (``https://api.example.com/v1/x``) or,
with ``relative_target``, paths that are joined under its ``api_base`` and can
never leave it. Either way the host must satisfy the credential's
``allowed_hosts``, and the scheme must be https unless the credential
allows http (:func:`check_scheme`). Usage::

    target = resolve_target("/v1/charges?limit=3", credential)
    target.url      # "https://api.stripe.com/v1/charges?limit=3"
    target.host     # "api.stripe.com"
    target.display  # what policy URL patterns are matched against

The path is normalised so that policy patterns see what the upstream will
see: percent-escapes of unreserved characters are decoded (``%63`` -> ``c``),
other escapes are upper-cased, and dot segments, empty segments and
backslashes are refused rather than resolved.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import SplitResult, unquote, urlsplit

from app.errors import CredentialMisconfigured, HostNotAllowed, InvalidTarget, PlainHttpNotAllowed
from app.netguard import is_loopback_host
from app.proxy.context import ForwardContext
from app.store.models import Credential

logger = logging.getLogger(__name__)

Scheme = Literal["http", "https"]

MAX_TARGET_LENGTH: Final = 8192
"""Longest ``X-TAP-Target`` accepted, in characters."""

DEFAULT_PORTS: Final[dict[str, int]] = {"http": 80, "https": 443}

# NOTE: only printable ASCII is accepted. Spaces, control characters and
# non-ASCII text are where URL parsers disagree with each other (and with the
# upstream), so an agent must percent-encode them or use punycode.
_PRINTABLE_ASCII: Final = re.compile(r"[\x21-\x7e]+")
_HOST_LABEL: Final = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PERCENT_ESCAPE: Final = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME_PREFIX: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_UNRESERVED: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)
_MAX_DECODE_ROUNDS: Final = 4
PARSED_TARGETS: Final = 256
"""How many distinct absolute targets a worker keeps parsed (least recently used dropped);
at most 256 x 8 KiB of target text, so the memo cannot grow a worker by much."""


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """Where a request goes, after every check on the target text has passed."""

    url: str
    """Absolute http(s) URL sent upstream (normalised; no fragment, no userinfo)."""
    scheme: Scheme
    host: str
    """Lower-case host without port; an IPv6 literal has no brackets."""
    port: int
    """Explicit port, or the scheme's default."""
    display: str
    """What policy URL patterns see: the effective URL, also for relative targets."""


def resolve_target(raw_target: str, credential: Credential) -> ResolvedTarget:
    """Resolve ``raw_target`` for ``credential`` and enforce its ``allowed_hosts``.

    Raises:
        InvalidTarget: the text is not an absolute http(s) URL (or, for a
            ``relative_target`` credential, a safe path), carries userinfo,
            has no host, or would escape ``api_base``.
        HostNotAllowed: the host does not match ``allowed_hosts``; for a
            relative credential this checks the ``api_base`` host.
        CredentialMisconfigured: a relative credential has no usable ``api_base``.
    """
    _check_text(raw_target)
    if credential.relative_target:
        target = _resolve_relative(raw_target, credential)
    elif credential.connector == "sidecar":
        return _resolve_through_sidecar(raw_target, credential)
    else:
        if not _SCHEME_PREFIX.match(raw_target):
            raise InvalidTarget(
                f"Credential '{credential.name}' takes a full http(s) URL, not a relative path",
                received=raw_target,
            )
        target = _parse_absolute(raw_target)
    # NOTE: the host binding applies to relative targets too; the reference
    # skipped it there, which let a misconfigured api_base go anywhere.
    check_allowed_host(target.host, credential.allowed_hosts, credential=credential.name)
    logger.debug("target resolved for credential %s to host %s", credential.name, target.host)
    return target


def parse_absolute_url(raw: str) -> ResolvedTarget:
    """Parse an absolute http(s) URL by the same rules as a full-URL ``X-TAP-Target``.

    For URLs TAP calls on a credential's behalf that an agent does not send
    (an OAuth 2 token endpoint). Raises InvalidTarget.
    """
    _check_text(raw)
    return _parse_absolute(raw)


def check_scheme(
    target: ResolvedTarget, credential: Credential, *, allow_loopback_http: bool
) -> None:
    """Refuse to send ``credential`` over plain http unless it says so.

    ``allow_loopback_http`` (``DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS``) lets
    loopback upstreams be reached over http, for tests and local development.

    NOTE: a secret sent over http can be read and replayed by anyone on the
    path; https is the rule, and the exception belongs to the credential, so
    an agent cannot choose it by spelling the URL differently.

    Raises:
        PlainHttpNotAllowed: the target is http and neither exception applies.
    """
    if target.scheme == "https" or credential.allow_http:
        return
    if allow_loopback_http and is_loopback_host(target.host):
        return
    raise PlainHttpNotAllowed(
        f"Credential '{credential.name}' is sent over https only; the target is plain http",
        credential=credential.name,
        host=target.host,
    )


def check_allowed_host(
    host: str, allowed_hosts: Sequence[str], *, credential: str | None = None
) -> None:
    """Refuse ``host`` unless it matches ``allowed_hosts`` (empty means unrestricted).

    ``api.example.com`` matches only itself; ``*.example.com`` matches every
    subdomain at any depth and the bare apex, on a dot boundary.

    Raises:
        HostNotAllowed: no entry matches.
    """
    if not allowed_hosts:
        return
    if any(host_matches(host, pattern) for pattern in allowed_hosts):
        return
    who = f"Credential '{credential}'" if credential is not None else "This credential"
    extra: dict[str, str] = {"host": host}
    if credential is not None:
        extra["credential"] = credential
    raise HostNotAllowed(f"{who} may not be sent to host '{host}'", **extra)


def host_matches(host: str, pattern: str) -> bool:
    """Whether ``host`` matches one ``allowed_hosts`` entry (case-insensitive)."""
    host = host.strip().lower()
    pattern = pattern.strip().lower()
    if not host or not pattern:
        return False
    if pattern.startswith("*."):
        apex = pattern[2:]
        if not apex or "*" in apex:
            return False
        return host == apex or host.endswith("." + apex)
    if "*" in pattern:
        # NOTE: a star anywhere but a leading "*." is not a pattern we define;
        # it never matches rather than being guessed at.
        return False
    return host == pattern


# -- internals -----------------------------------------------------------------------


def _check_text(raw: str) -> None:
    if not raw:
        raise InvalidTarget("X-TAP-Target is empty", received=raw)
    if len(raw) > MAX_TARGET_LENGTH:
        raise InvalidTarget(f"X-TAP-Target is longer than {MAX_TARGET_LENGTH} characters")
    if not _PRINTABLE_ASCII.fullmatch(raw):
        raise InvalidTarget(
            "X-TAP-Target may contain only printable ASCII; percent-encode spaces, "
            "control characters and non-ASCII text",
        )


@functools.lru_cache(maxsize=PARSED_TARGETS)
def _parse_absolute(raw: str) -> ResolvedTarget:
    """``raw`` parsed and normalised. Raises InvalidTarget.

    NOTE: memoised on the exact text: the result depends on nothing else and is
    immutable, and a refusal is never cached (it raises again each time). The
    credential's checks (allowed hosts, scheme) run on every request.
    """
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise InvalidTarget("X-TAP-Target is not a valid URL", received=raw) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidTarget("X-TAP-Target must start with http:// or https://", received=raw)
    if not raw[len(parts.scheme) + 1 :].startswith("//"):
        raise InvalidTarget(
            "X-TAP-Target must be an absolute URL (scheme://host/...)", received=raw
        )
    if "@" in parts.netloc:
        # NOTE: userinfo is refused outright: "https://api.good.com@evil.com/"
        # is the classic way to make a human (or a pattern) misread the host.
        raise InvalidTarget("X-TAP-Target must not contain userinfo (user@host)", received=raw)
    host = _parse_host(parts, raw)
    port = _parse_port(parts, raw, scheme)
    path = _normalise_path(parts.path or "/", raw)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc = f"{netloc}:{port}"
    url = f"{scheme}://{netloc}{path}"
    if parts.query:
        url = f"{url}?{parts.query}"
    checked: Scheme = "https" if scheme == "https" else "http"
    return ResolvedTarget(url=url, scheme=checked, host=host, port=port, display=url)


def _parse_host(parts: SplitResult, raw: str) -> str:
    if parts.netloc.startswith("["):
        inner = parts.hostname or ""
        if "%" in inner:
            raise InvalidTarget(
                "IPv6 zone identifiers are not allowed in X-TAP-Target", received=raw
            )
        try:
            return str(ipaddress.IPv6Address(inner))
        except ValueError:
            raise InvalidTarget("X-TAP-Target has a malformed IPv6 host", received=raw) from None
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidTarget("X-TAP-Target has no host", received=raw)
    labels = host.split(".")
    last = labels[-1]
    if last and (last.isdigit() or last.startswith("0x")):
        # NOTE: like the WHATWG URL parser, a host whose last label is numeric
        # is an IPv4 address and must be the canonical dotted quad: "127.1",
        # "2130706433" and "0x7f.0.0.1" all reach loopback through getaddrinfo.
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise InvalidTarget(
                "X-TAP-Target has a non-canonical IPv4 host; use a dotted quad", received=raw
            ) from None
    if not all(_HOST_LABEL.fullmatch(label) for label in labels) or len(host) > 253:
        # An empty label covers the trailing-dot form "api.example.com.", which
        # would otherwise slip past exact host patterns.
        raise InvalidTarget("X-TAP-Target has an invalid host name", received=raw)
    return host


def _parse_port(parts: SplitResult, raw: str, scheme: str) -> int:
    try:
        port = parts.port
    except ValueError:
        raise InvalidTarget("X-TAP-Target has an invalid port", received=raw) from None
    if port is None:
        return DEFAULT_PORTS[scheme]
    if port == 0:
        raise InvalidTarget("X-TAP-Target has an invalid port", received=raw)
    return port


def _normalise_path(path: str, raw: str) -> str:
    """Canonical form of an absolute path; refuses anything a server could resolve upwards."""
    if "\\" in path:
        raise InvalidTarget("Backslashes are not allowed in the target path", received=raw)
    if _BAD_PERCENT.search(path):
        raise InvalidTarget("The target path has a malformed percent-escape", received=raw)
    path = _PERCENT_ESCAPE.sub(_canonical_escape, path)
    if "//" in path:
        raise InvalidTarget(
            "Empty path segments ('//') are not allowed in the target", received=raw
        )
    # NOTE: decode repeatedly ("%252e" -> "%2e" -> ".") and check every layer,
    # because some upstreams and frameworks decode more than once.
    layer = path
    for _ in range(_MAX_DECODE_ROUNDS + 1):
        _check_decoded_layer(layer, raw)
        decoded = unquote(layer, errors="strict") if "%" in layer else layer
        if decoded == layer:
            break
        layer = decoded
    else:
        raise InvalidTarget("The target path is percent-encoded too many times", received=raw)
    return path


def _check_decoded_layer(layer: str, raw: str) -> None:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in layer):
        raise InvalidTarget("Control characters are not allowed in the target path", received=raw)
    if "\\" in layer:
        raise InvalidTarget("Backslashes are not allowed in the target path", received=raw)
    for segment in layer.split("/"):
        # "..;x" is how Tomcat-style path parameters smuggle a parent segment.
        if segment.split(";", 1)[0] in (".", ".."):
            raise InvalidTarget(
                "Dot segments ('.' or '..') are not allowed in the target path", received=raw
            )


def _canonical_escape(match: re.Match[str]) -> str:
    byte = int(match.group(1), 16)
    if byte in _UNRESERVED:
        return chr(byte)
    return "%" + match.group(1).upper()


def _resolve_relative(raw: str, credential: Credential) -> ResolvedTarget:
    base = _parse_api_base(credential)
    # A fragment is never sent upstream, so it is dropped before anything else.
    path_text, _, query = raw.split("#", 1)[0].partition("?")
    # NOTE: the refusals below are about the *text* the agent sent. The join
    # itself is plain concatenation under api_base, so even a missed case
    # could not change the scheme or host; these keep the path honest too.
    if _SCHEME_PREFIX.match(path_text):
        raise InvalidTarget("A relative target must be a path, not a URL", received=raw)
    if "//" in path_text:
        raise InvalidTarget(
            "Empty path segments ('//') are not allowed in the target", received=raw
        )
    if "@" in unquote(path_text):
        raise InvalidTarget("'@' is not allowed in a relative target", received=raw)
    if not path_text.startswith("/"):
        path_text = "/" + path_text
    path = _normalise_path(path_text, raw)
    if "@" in path:
        raise InvalidTarget("'@' is not allowed in a relative target", received=raw)
    base_path = base.path.rstrip("/")
    url = f"{base.scheme}://{_netloc(base)}{base_path}{path}"
    if query:
        url = f"{url}?{query}"
    return ResolvedTarget(url=url, scheme=base.scheme, host=base.host, port=base.port, display=url)


def _resolve_through_sidecar(raw: str, credential: Credential) -> ResolvedTarget:
    """An absolute target handed to a sidecar: TAP connects to ``api_base`` exactly and
    tells the sidecar the target (``X-OAuth-Target``); policies see the target.

    NOTE: the target is still parsed and held to ``allowed_hosts``; the
    sidecar's own address is what the SSRF stage checks, like any host.
    """
    if not _SCHEME_PREFIX.match(raw):
        raise InvalidTarget(
            f"Credential '{credential.name}' takes a full http(s) URL, not a relative path",
            received=raw,
        )
    wanted = _parse_absolute(raw)
    check_allowed_host(wanted.host, credential.allowed_hosts, credential=credential.name)
    base = _parse_api_base(credential)
    url = f"{base.scheme}://{_netloc(base)}{base.path.rstrip('/') or '/'}"
    return ResolvedTarget(
        url=url, scheme=base.scheme, host=base.host, port=base.port, display=wanted.url
    )


@dataclass(frozen=True, slots=True)
class _Base:
    scheme: Scheme
    host: str
    port: int
    explicit_port: bool
    path: str


def _netloc(base: _Base) -> str:
    host = f"[{base.host}]" if ":" in base.host else base.host
    return f"{host}:{base.port}" if base.explicit_port else host


def _parse_api_base(credential: Credential) -> _Base:
    api_base = (credential.api_base or "").strip()
    if not api_base:
        raise CredentialMisconfigured(
            f"Credential '{credential.name}' takes relative targets but has no api_base",
            credential=credential.name,
        )
    try:
        _check_text(api_base)
        parsed = _parse_absolute(api_base)
        parts = urlsplit(api_base)
    except InvalidTarget as exc:
        raise CredentialMisconfigured(
            f"Credential '{credential.name}' has an unusable api_base: {exc.message}",
            credential=credential.name,
        ) from None
    if parts.query or parts.fragment:
        raise CredentialMisconfigured(
            f"Credential '{credential.name}' has an api_base with a query or fragment",
            credential=credential.name,
        )
    path = urlsplit(parsed.url).path
    return _Base(
        scheme=parsed.scheme,
        host=parsed.host,
        port=parsed.port,
        explicit_port=parts.port is not None,
        path=path,
    )


async def run(ctx: ForwardContext) -> ForwardContext:
    """Pipeline stage: the effective URL, bound to every credential's allowed hosts."""
    resolved = [resolve_target(ctx.raw_target, credential) for credential in ctx.credentials]
    for credential, each in zip(ctx.credentials, resolved, strict=True):
        check_scheme(each, credential, allow_loopback_http=ctx.rt.config.allow_private_targets)
    if len({r.url for r in resolved}) != 1:
        raise InvalidTarget(
            "The credentials of this request resolve the target differently; use one at a time."
        )
    target = resolved[0]
    ctx.target_url, ctx.target_host, ctx.target_port, ctx.display_target = (
        target.url,
        target.host,
        target.port,
        target.display,
    )
    return ctx
