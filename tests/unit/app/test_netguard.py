"""Tests for app.netguard: address classes, loopback names and the connect-time guard inside aiohttp."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from app.netguard import (
    BlockedAddress,
    GuardedResolver,
    address_reason,
    guarded_socket_factory,
    internal_reason,
    is_loopback_host,
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        # IPv4 ranges of the reference
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("255.255.255.255", "broadcast"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("100.64.0.1", "CGNAT"),
        ("100.100.100.200", "CGNAT"),
        # IPv4 gaps the reference left open
        ("0.1.2.3", "this network"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.255", "benchmarking"),
        ("240.0.0.1", "reserved"),
        ("192.0.0.170", "IETF"),
        ("192.88.99.1", "6to4 relay"),
        # IPv6 of the reference
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("ff02::1", "multicast"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "cloud metadata"),
        # IPv4 embedded in IPv6
        ("::ffff:127.0.0.1", "IPv4-mapped 127.0.0.1: loopback"),
        ("::ffff:169.254.169.254", "IPv4-mapped 169.254.169.254: cloud metadata"),
        ("::ffff:10.0.0.1", "IPv4-mapped"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("::8.8.8.8", "IPv4-compatible"),
        ("::ffff:0:127.0.0.1", "IPv4-translated 127.0.0.1"),
        ("64:ff9b::7f00:1", "NAT64 127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "NAT64 169.254.169.254: cloud metadata"),
        ("64:ff9b:1::1", "NAT64 local-use"),
        ("2002:7f00:1::1", "6to4 127.0.0.1"),
        ("2002:c0a8:101::1", "6to4 192.168.1.1"),
        ("2001:0:7f00:1::1", "Teredo server 127.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo client 10.0.0.1"),
        # other IPv6 special ranges
        ("fec0::1", "site-local"),
        ("2001:db8::1", "documentation"),
        ("100::1", "discard"),
        ("2001:2::1", "benchmarking"),
        ("4000::1", "outside global unicast"),
        ("fe80::1%eth0", "link-local"),
    ],
)
def test_internal_addresses_are_named(address: str, reason: str) -> None:
    found = address_reason(address)
    assert found is not None
    assert reason in found


@pytest.mark.parametrize(
    "address",
    [
        # ordinary public addresses, also when embedded
        "8.8.8.8",
        "93.184.216.34",
        "1.1.1.1",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert internal_reason(ipaddress.ip_address(address)) is None


def test_non_address_text_fails_closed() -> None:
    assert address_reason("not-an-ip") == "not an IP address"


# -- loopback names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("api.localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        # not loopback
        ("localhost.example.com", False),
        ("mylocalhost", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("api.example.com", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


# -- the connect-time guard inside aiohttp -------------------------------------------------


class _TableResolver(AbstractResolver):
    """A resolver double whose answers a test sets (simulates DNS rebinding)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0)
            for a in self.answers
        ]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("answers", "blocked"),
    [
        (["93.184.216.34"], False),
        (["93.184.216.34", "127.0.0.1"], True),
        (["169.254.169.254"], True),
        (["::ffff:10.0.0.1"], True),
    ],
)
async def test_guarded_resolver_filters_answers(answers: list[str], blocked: bool) -> None:
    resolver = GuardedResolver(allow_private=False, inner=_TableResolver(answers))
    if blocked:
        with pytest.raises(BlockedAddress):
            await resolver.resolve("rebind.example", 443)
    else:
        assert [r["host"] for r in await resolver.resolve("rebind.example", 443)] == answers


async def test_guarded_resolver_refuses_loopback_names_whatever_they_resolve_to() -> None:
    resolver = GuardedResolver(allow_private=False, inner=_TableResolver(["93.184.216.34"]))
    with pytest.raises(BlockedAddress):
        await resolver.resolve("evil.localhost", 443)
    allowed = GuardedResolver(allow_private=True, inner=_TableResolver(["127.0.0.1"]))
    assert [r["host"] for r in await allowed.resolve("evil.localhost", 443)] == ["127.0.0.1"]


@pytest.fixture
async def loopback_server() -> AsyncIterator[int]:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield port
    await runner.cleanup()


def _connector(allow_private: bool) -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private=allow_private),
        socket_factory=guarded_socket_factory(allow_private=allow_private),
        use_dns_cache=False,
    )


@pytest.mark.parametrize(
    "host",
    [
        # a DNS name that resolves to loopback goes through the resolver
        "localhost",
        # an IP literal never reaches the resolver; the socket factory catches it
        "127.0.0.1",
    ],
)
async def test_real_client_is_refused_when_guarded(loopback_server: int, host: str) -> None:
    async with aiohttp.ClientSession(connector=_connector(False)) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            await session.get(f"http://{host}:{loopback_server}/")
    assert isinstance(info.value.os_error, BlockedAddress)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_real_client_connects_when_private_allowed(loopback_server: int, host: str) -> None:
    async with (
        aiohttp.ClientSession(connector=_connector(True)) as session,
        session.get(f"http://{host}:{loopback_server}/") as response,
    ):
        assert await response.text() == "hello"
