"""Stage 1: read the ``X-TAP-*`` control headers and split off what goes upstream.

Only the documented control headers are accepted; any other ``X-TAP-*`` name
is a 400 that names it (an agent that invents a header learns at once, and
nothing it meant for TAP leaks upstream). Each control header may appear once.
Hop-by-hop headers and every header that describes the client or the proxies
on the way (``Remote-Addr``, ``X-Forwarded-*``, ``Forwarded``, ``Via``, ...)
stay here.
"""

from __future__ import annotations

from typing import Final

from app.errors import (
    DuplicateHeader,
    EndUserNotSupported,
    InvalidAuthMode,
    MissingCredential,
    MissingTapKey,
    MissingTarget,
    TargetTooLong,
    UnknownTapHeader,
)
from app.proxy.context import ForwardContext
from app.proxy.placeholders import find_placeholders
from app.proxy.policy import normalize_method
from app.secret import Secret
from app.store.models import AuthMode

SUPPORTED: Final = (
    "x-tap-key",
    "x-tap-credential",
    "x-tap-target",
    "x-tap-method",
    "x-tap-end-user",
    "x-tap-auth-mode",
)
# Never forwarded: hop-by-hop headers, and the ones the client library sets itself.
HOP_BY_HOP: Final = frozenset(
    {
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
        "upgrade", "proxy-connection", "proxy-authorization", "proxy-authenticate", "accept-encoding",
    }
)  # fmt: skip
# NOTE: nothing about the agent or TAP reaches an upstream. These carry the
# client's address or the path through proxies (set by the agent, by nginx in
# front of TAP, or by Quart itself, which adds Remote-Addr); they are dropped
# whatever their spelling, like every X-Forwarded-* header.
CLIENT_IDENTITY: Final = frozenset(
    {
        "forwarded", "via", "remote-addr", "x-real-ip", "true-client-ip", "client-ip",
        "x-client-ip", "x-cluster-client-ip", "x-remote-ip", "x-remote-addr",
        "x-originating-ip", "x-original-forwarded-for", "x-proxyuser-ip", "fastly-client-ip",
        "cf-connecting-ip", "cf-connecting-ipv6", "cf-pseudo-ipv4", "cf-ipcountry", "cf-ray",
        "cf-visitor", "cdn-loop", "x-envoy-external-address", "akamai-origin-hop",
    }
)  # fmt: skip
CLIENT_IDENTITY_PREFIXES: Final = ("x-forwarded-",)
_AUTH_MODES: Final[dict[str, AuthMode]] = {
    "": "auto",
    "auto": "auto",
    **dict.fromkeys(("bearer", "app", "app-only", "app_only"), "bearer"),
    **dict.fromkeys(
        ("oauth1", "oauth1a", "oauth-1.0a", "user", "user-context", "user_context"), "oauth1"
    ),
}
"""Every spelling of ``X-TAP-Auth-Mode`` (case-insensitive, trimmed) and the mode it names."""
MAX_TARGET_LENGTH: Final = 8192


_SUPPORTED_SET: Final = frozenset(SUPPORTED)
_NEVER_FORWARDED: Final = HOP_BY_HOP | CLIENT_IDENTITY
"""Every fixed name that stays here, built once: one set lookup per header."""


def identifies_client(name: str) -> bool:
    """Whether header ``name`` tells the upstream about the client or the proxies on the way."""
    lower = name.lower()
    return lower in CLIENT_IDENTITY or lower.startswith(CLIENT_IDENTITY_PREFIXES)


async def run(ctx: ForwardContext) -> ForwardContext:
    control: dict[str, str] = {}
    forward: list[tuple[str, str]] = []
    # Names a Connection header lists are hop-by-hop too (RFC 9110, 7.6.1); rare, so
    # they are collected in the same pass and applied afterwards.
    named_hop: set[str] = set()
    for name, value in ctx.raw_headers:
        lower = name.lower()
        if lower.startswith("x-tap-"):
            if lower not in _SUPPORTED_SET:
                raise UnknownTapHeader(
                    f"Unknown header: {name}",
                    detail=(
                        "Only these X-TAP-* headers exist: "
                        + ", ".join(SUPPORTED)
                        + ". Other headers pass "
                        "through to the upstream unchanged, and request bodies go in the HTTP body."
                    ),
                    supported_tap_headers=list(SUPPORTED),
                )
            if lower in control:
                raise DuplicateHeader(f"Header {name} was sent more than once.", header=name)
            control[lower] = value.strip()
        elif lower in _NEVER_FORWARDED or lower.startswith(CLIENT_IDENTITY_PREFIXES):
            if lower == "connection":
                named_hop.update(token.strip().lower() for token in value.split(","))
        else:
            forward.append((name, value))
    if named_hop:
        forward = [(name, value) for name, value in forward if name.lower() not in named_hop]
    key = control.get("x-tap-key", "")
    if not key:
        raise MissingTapKey("Missing X-TAP-Key header.", setup_url="/instructions")
    ctx.api_key = Secret(key)
    if "x-tap-end-user" in control:
        raise EndUserNotSupported("X-TAP-End-User is not supported by this TAP deployment.")
    mode = _AUTH_MODES.get(control.get("x-tap-auth-mode", "").lower())
    if mode is None:
        raise InvalidAuthMode(
            "X-TAP-Auth-Mode must be one of: auto, bearer, oauth1",
            received=control["x-tap-auth-mode"][:64],
        )
    ctx.auth_mode = mode
    target = control.get("x-tap-target", "")
    if not target:
        raise MissingTarget("Missing X-TAP-Target header.", services_url="/agent/services")
    if len(target) > MAX_TARGET_LENGTH:
        raise TargetTooLong(f"X-TAP-Target is longer than {MAX_TARGET_LENGTH} characters.")
    ctx.raw_target = target
    ctx.method = normalize_method(control.get("x-tap-method") or "GET")
    credential = control.get("x-tap-credential")
    ctx.credential_name = credential.strip().lower() if credential else None
    ctx.forward_headers = forward
    if ctx.credential_name is None:
        # Placeholder mode: the credentials are the ones the headers reference.
        names = [name for _, value in forward for name, _field in find_placeholders(value)]
        if not names:
            raise MissingCredential(
                "Name a credential: send X-TAP-Credential, or reference one as <CREDENTIAL:name> in a header.",
                services_url="/agent/services",
            )
        ctx.placeholder_names = list(dict.fromkeys(names))
    return ctx
