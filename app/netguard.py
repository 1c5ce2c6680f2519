"""The address guard: which IP addresses TAP may connect to, enforced at connect time.

Three pieces, used together:

* :func:`internal_reason` says whether one IPv4/IPv6 address is internal and
  why (loopback, private, link-local, metadata, reserved, ...). IPv6 forms that
  embed an IPv4 address (mapped, NAT64, 6to4, Teredo) are judged by the
  embedded address.
* :class:`GuardedResolver` and :func:`guarded_socket_factory` check inside
  aiohttp, so the address actually connected to is always one that passed (no
  DNS rebinding between the request-time check and connect, and no window for
  approved requests forwarded later). They refuse by raising
  :class:`BlockedAddress`; aiohttp wraps it in ``ClientConnectorError`` whose
  ``os_error`` is the ``BlockedAddress``.

The module depends on nothing else in TAP: the runtime builds the upstream
connector from it, and the pipeline's SSRF stage (:mod:`app.proxy.ssrf`) uses
its tables for the request-time check.

Usage::

    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private=False),
        socket_factory=guarded_socket_factory(allow_private=False),
    )
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import Any, Final

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Order matters: the first matching network gives the reason, so the specific
# metadata addresses come before the ranges that contain them.
_INTERNAL_V4: Final[tuple[tuple[ipaddress.IPv4Network, str], ...]] = (
    (_V4("169.254.169.254/32"), "cloud metadata"),
    (_V4("0.0.0.0/8"), "unspecified / this network"),
    (_V4("10.0.0.0/8"), "private (RFC 1918)"),
    (_V4("100.64.0.0/10"), "shared address space (CGNAT)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private (RFC 1918)"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private (RFC 1918)"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("240.0.0.0/4"), "reserved"),
)

_INTERNAL_V6: Final[tuple[tuple[ipaddress.IPv6Network, str], ...]] = (
    (_V6("fd00:ec2::254/128"), "cloud metadata"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    # NOTE: IPv4-compatible addresses are deprecated and nothing public uses
    # them; some stacks still route them to the embedded IPv4 address.
    (_V6("::/96"), "IPv4-compatible (deprecated)"),
    (_V6("64:ff9b:1::/48"), "NAT64 local-use"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001:2::/48"), "benchmarking"),
    (_V6("2001:10::/28"), "ORCHID"),
    (_V6("2001:20::/28"), "ORCHIDv2"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("fc00::/7"), "unique local (ULA)"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local (deprecated)"),
    (_V6("ff00::/8"), "multicast"),
)

_NAT64_WELL_KNOWN: Final = _V6("64:ff9b::/96")
_SIIT_TRANSLATED: Final = _V6("::ffff:0:0:0/96")
_GLOBAL_UNICAST: Final = _V6("2000::/3")


class BlockedAddress(OSError):
    """aiohttp was about to connect to an internal address; the guard refused.

    An ``OSError`` so that aiohttp treats it as a connection failure and wraps
    it in ``ClientConnectorError`` (``os_error`` is this exception). The
    pipeline's forward stage turns that into its own refusal.
    """

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(
            errno.EACCES, f"'{host}' resolves to internal address {address} ({reason})"
        )
        self.host = host
        self.address = address
        self.reason = reason


def internal_reason(address: IPAddress) -> str | None:
    """Why ``address`` is internal, or ``None`` when it is a public address."""
    if isinstance(address, ipaddress.IPv4Address):
        return _v4_reason(address)
    return _v6_reason(address)


def parse_ip(text: str) -> IPAddress | None:
    """``text`` as an IP address (brackets and IPv6 zone allowed), else ``None``."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an IP literal) names this machine's loopback interface.

    ``localhost`` and its subdomains count (RFC 6761 reserves them for
    loopback), as do 127.0.0.0/8, ``::1`` and their IPv4-mapped forms.
    """
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = parse_ip(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address is not None and address.is_loopback


def address_reason(text: str) -> str | None:
    """Like :func:`internal_reason` for an address in text form.

    NOTE: text that is not an IP address is reported as internal: this runs
    on what a resolver returned, where anything unexpected must fail closed.
    """
    address = parse_ip(text)
    if address is None:
        return "not an IP address"
    return internal_reason(address)


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses internal addresses at connect time.

    Wraps aiohttp's :class:`~aiohttp.resolver.ThreadedResolver` (created on
    first use, so the guard can be built outside a running loop). If *any*
    resolved address is internal the whole lookup fails with
    :class:`BlockedAddress`, so a name that mixes public and private answers
    cannot be raced onto the private one.

    NOTE: aiohttp does not call the resolver for IP-literal hosts; pair this
    with :func:`guarded_socket_factory` (or run the request-time check first) so literals are covered too.
    """

    def __init__(self, *, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self._allow_private = allow_private
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if not self._allow_private and is_loopback_host(host):
            logger.info("ssrf guard refused a connection to a loopback name")
            raise BlockedAddress(host, host, "loopback name")
        if self._inner is None:
            self._inner = ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return results
        for result in results:
            reason = address_reason(result["host"])
            if reason is not None:
                logger.info("ssrf guard refused a connection to host %s (%s)", host, reason)
                raise BlockedAddress(host, result["host"], reason)
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]
"""One ``getaddrinfo`` entry as aiohttp passes it to a socket factory."""


def guarded_socket_factory(*, allow_private: bool) -> Callable[[AddrInfo], socket.socket]:
    """A ``TCPConnector(socket_factory=...)`` that refuses internal addresses.

    This is the last line: it sees the exact address each socket is about to
    connect to, including IP-literal hosts that never reach the resolver.

    Raises (from the factory):
        BlockedAddress: the address is internal and ``allow_private`` is off.
    """

    def factory(addr_info: AddrInfo) -> socket.socket:
        family, type_, proto, _canonname, sockaddr = addr_info
        address = str(sockaddr[0])
        if not allow_private:
            reason = address_reason(address)
            if reason is not None:
                logger.info("ssrf guard refused a socket to an internal address (%s)", reason)
                raise BlockedAddress(address, address, reason)
        return socket.socket(family=family, type=type_, proto=proto)

    return factory


# -- internals -----------------------------------------------------------------------


def _v4_reason(address: ipaddress.IPv4Address) -> str | None:
    for network, reason in _INTERNAL_V4:
        if address in network:
            return reason
    if not address.is_global:
        # Belt and braces: anything the standard library knows to be
        # non-global that the table above missed.
        return "not globally routable"
    return None


def _v6_reason(address: ipaddress.IPv6Address) -> str | None:
    if address.scope_id is not None:
        address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
    mapped = address.ipv4_mapped
    if mapped is not None:
        return _embedded("IPv4-mapped", mapped)
    if address in _SIIT_TRANSLATED:
        return _embedded("IPv4-translated", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address in _NAT64_WELL_KNOWN:
        return _embedded("NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    sixtofour = address.sixtofour
    if sixtofour is not None:
        return _embedded("6to4", sixtofour)
    teredo = address.teredo
    if teredo is not None:
        server, client = teredo
        return _embedded("Teredo server", server) or _embedded("Teredo client", client)
    for network, reason in _INTERNAL_V6:
        if address in network:
            return reason
    if address not in _GLOBAL_UNICAST:
        # NOTE: only 2000::/3 is allocated for global unicast; everything else
        # is reserved, so an allow-list here beats chasing new special ranges.
        return "reserved (outside global unicast)"
    return None


def _embedded(kind: str, embedded: ipaddress.IPv4Address) -> str | None:
    reason = _v4_reason(embedded)
    return None if reason is None else f"{kind} {embedded}: {reason}"
