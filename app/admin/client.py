"""Which address a request comes from, believing ``X-Forwarded-For`` only as far as trusted proxies go.

Per-address throttles need the client's address. Behind a reverse proxy the
socket peer is the proxy, so every client would share one bucket and one
attacker could lock sign-in for everyone. ``X-Forwarded-For`` names the
client, but any client can send one, so it is read right to left: each entry
was appended by the hop before it, and only a trusted hop's word is taken.

Example, with nginx at 172.31.250.10 trusted::

    >>> import ipaddress
    >>> trusted = (ipaddress.ip_network("172.31.250.10/32"),)
    >>> resolve("172.31.250.10", ["6.6.6.6, 203.0.113.9"], trusted)
    '203.0.113.9'
    >>> resolve("198.51.100.1", ["6.6.6.6"], trusted)  # an untrusted peer's header is ignored
    '198.51.100.1'
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Final

from app.config import ProxyNetwork

UNKNOWN: Final = "unknown"


def _address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = raw.strip().removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Sequence[ProxyNetwork]
) -> bool:
    return any(address in network for network in networks)


def resolve(peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[ProxyNetwork]) -> str:
    """The client's address: the nearest hop, walking back from ``peer``, that is not trusted.

    ``forwarded_for`` holds every ``X-Forwarded-For`` header value in order.
    NOTE: an entry that is not an IP address stops the walk at the last hop
    that wrote it, so garbage from a client can never become a fresh bucket;
    if every hop is trusted, the leftmost one is the client.
    """
    current = _address(peer or "")
    if current is None:
        return peer or UNKNOWN
    hops = [entry for value in forwarded_for for entry in value.split(",") if entry.strip()]
    while _trusted(current, trusted) and hops:
        previous = _address(hops.pop())
        if previous is None:
            break
        current = previous
    return str(current)
