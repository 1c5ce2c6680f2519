"""Stage 1: read the ``X-TAP-*`` control headers and split off what goes upstream.

Only the documented control headers are accepted; any other ``X-TAP-*`` name
is a 400 that names it (an agent that invents a header learns at once, and
nothing it meant for TAP leaks upstream). Each control header may appear once.
Hop-by-hop headers and every header that describes the client or the proxies
on the way (``Remote-Addr``, ``X-Forwarded-*``, ``Forwarded``, ``Via``, ...)
stay here.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def identifies_client(name: str) -> bool:
    """Whether header ``name`` tells the upstream about the client or the proxies on the way."""
    lower = name.lower()
    return lower in CLIENT_IDENTITY or lower.startswith(CLIENT_IDENTITY_PREFIXES)


def _hop_by_hop(headers: Sequence[tuple[str, str]]) -> set[str]:
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return set(HOP_BY_HOP) | named


async def run(ctx: ForwardContext) -> ForwardContext:
    control: dict[str, str] = {}
    dropped = _hop_by_hop(ctx.raw_headers)
    forward: list[tuple[str, str]] = []
    for name, value in ctx.raw_headers:
        lower = name.lower()
        if lower.startswith("x-tap-"):
            if lower not in SUPPORTED:
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
        elif lower not in dropped and not identifies_client(lower):
            forward.append((name, value))
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
