"""Which push endpoints TAP accepts: https on a public host (http on loopback in test setups).

NOTE: the endpoint is chosen by a browser, i.e. by whoever holds a session;
it must not turn TAP into a request forwarder to internal services. This
check refuses the obvious (wrong scheme, loopback names, internal IP
literals); the guarded connector checks every address actually dialled.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from app.errors import InvalidSubscription
from app.netguard import internal_reason, is_loopback_host, parse_ip

MAX_ENDPOINT_CHARS: Final = 2048


def check_endpoint(endpoint: str, *, allow_private: bool) -> str:
    """The endpoint, if acceptable. Raises InvalidSubscription."""
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        raise InvalidSubscription("endpoint is too long")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        raise InvalidSubscription("endpoint is not a URL") from None
    if not host or parts.username or parts.password:
        raise InvalidSubscription("endpoint must be an https URL with a host")
    loopback = is_loopback_host(host)
    if allow_private:
        if parts.scheme == "https" or (parts.scheme == "http" and loopback):
            return endpoint
        raise InvalidSubscription("endpoint must be https (http only on loopback)")
    if parts.scheme != "https":
        raise InvalidSubscription("endpoint must be https")
    address = parse_ip(host)
    if loopback or (address is not None and internal_reason(address) is not None):
        raise InvalidSubscription("endpoint must be on a public host")
    return endpoint
