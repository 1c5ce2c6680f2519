"""Which address a request comes from: X-Forwarded-For is believed only through trusted hops."""

from __future__ import annotations

import ipaddress

import pytest

from app.admin.client import resolve

NGINX = (ipaddress.ip_network("172.31.250.10/32"),)
TWO_HOPS = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("172.31.250.10/32"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # No trusted proxy: the socket peer, whatever the header says.
        ("198.51.100.1", ["6.6.6.6"], (), "198.51.100.1"),
        # An untrusted peer's header is ignored.
        ("198.51.100.1", ["6.6.6.6"], NGINX, "198.51.100.1"),
        # nginx appends the client it saw: the rightmost entry.
        ("172.31.250.10", ["203.0.113.9"], NGINX, "203.0.113.9"),
        # The client's own entries to the left are not believed.
        ("172.31.250.10", ["6.6.6.6, 7.7.7.7, 203.0.113.9"], NGINX, "203.0.113.9"),
        # Several headers are one list, in order.
        ("172.31.250.10", ["6.6.6.6", "203.0.113.9"], NGINX, "203.0.113.9"),
        # Two trusted hops are skipped.
        ("172.31.250.10", ["203.0.113.9, 10.1.2.3"], TWO_HOPS, "203.0.113.9"),
        # Every hop trusted: the leftmost is the client.
        ("172.31.250.10", ["10.1.2.3"], TWO_HOPS, "10.1.2.3"),
        # No header from a trusted peer: the peer.
        ("172.31.250.10", [], NGINX, "172.31.250.10"),
        # Garbage stops the walk at the hop that wrote it; it never becomes a bucket.
        ("172.31.250.10", ["not-an-ip"], NGINX, "172.31.250.10"),
        ("172.31.250.10", ["203.0.113.9, junk, 10.1.2.3"], TWO_HOPS, "10.1.2.3"),
        # IPv6, bracketed or not.
        ("172.31.250.10", ["[2001:db8::1]"], NGINX, "2001:db8::1"),
        ("172.31.250.10", ["2001:db8::2"], NGINX, "2001:db8::2"),
        # No peer at all.
        (None, ["6.6.6.6"], NGINX, "unknown"),
    ],
)
def test_resolve(
    peer: str | None, forwarded: list[str], trusted: tuple[object, ...], expected: str
) -> None:
    assert resolve(peer, forwarded, trusted) == expected  # type: ignore[arg-type]
