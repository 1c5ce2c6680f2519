"""Stage 1: read the ``X-TAP-*`` control headers and split off what goes upstream.

Only the documented control headers are accepted; any other ``X-TAP-*`` name
is a 400 that names it (an agent that invents a header learns at once, and
nothing it meant for TAP leaks upstream). Each control header may appear once.
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
_AUTH_MODES: Final = frozenset(
    {"", "auto", "bearer", "app", "app-only", "app_only", "oauth1", "oauth1a", "user"}
)
MAX_TARGET_LENGTH: Final = 8192


def _hop_by_hop(headers: list[tuple[str, str]]) -> set[str]:
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
        elif lower not in dropped:
            forward.append((name, value))
    key = control.get("x-tap-key", "")
    if not key:
        raise MissingTapKey("Missing X-TAP-Key header.", setup_url="/instructions")
    ctx.api_key = key
    if "x-tap-end-user" in control:
        raise EndUserNotSupported("X-TAP-End-User is not supported by this TAP deployment.")
    if control.get("x-tap-auth-mode", "").lower() not in _AUTH_MODES:
        raise InvalidAuthMode(
            "X-TAP-Auth-Mode must be one of: auto, bearer, oauth1",
            received=control["x-tap-auth-mode"][:64],
        )
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
