"""Tests for app.netguard and app.proxy.ssrf: address classes, the request-time check, the connect-time guard."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from app.errors import TargetNotAllowed, UpstreamDnsError
from app.netguard import (
    BlockedAddress,
    GuardedResolver,
    address_reason,
    guarded_socket_factory,
    internal_reason,
)
from app.proxy.ssrf import check_target_host


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


# -- check_target_host -------------------------------------------------------------------


@pytest.fixture
async def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Replace the running loop's getaddrinfo with a table; unknown names fail."""
    table: dict[str, list[str]] = {}
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in table[host]
        ]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return table


@pytest.mark.parametrize(
    ("answers", "allowed"),
    [
        # a public name
        (["93.184.216.34"], True),
        (["93.184.216.34", "2606:2800:220:1::1"], True),
        # SSRF through a DNS name: any internal answer refuses the whole name
        (["127.0.0.1"], False),
        (["93.184.216.34", "10.0.0.1"], False),
        (["169.254.169.254"], False),
        (["::ffff:127.0.0.1"], False),
        (["64:ff9b::7f00:1"], False),
    ],
)
async def test_check_target_host_resolves_and_checks(
    fake_dns: dict[str, list[str]], answers: list[str], allowed: bool
) -> None:
    fake_dns["name.example"] = answers
    if allowed:
        assert await check_target_host("name.example", 443, allow_private=False) == answers
    else:
        with pytest.raises(TargetNotAllowed):
            await check_target_host("name.example", 443, allow_private=False)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        # IP literals are judged without DNS, brackets or not
        ("8.8.8.8", True),
        ("127.0.0.1", False),
        ("[::1]", False),
        ("::ffff:7f00:1", False),
        ("[::ffff:169.254.169.254]", False),
    ],
)
async def test_check_target_host_literals(
    fake_dns: dict[str, list[str]], host: str, allowed: bool
) -> None:
    if allowed:
        assert await check_target_host(host, 80, allow_private=False)
    else:
        with pytest.raises(TargetNotAllowed):
            await check_target_host(host, 80, allow_private=False)


@pytest.mark.parametrize("host", ["localhost", "api.localhost", "a.b.LOCALHOST"])
async def test_loopback_names_are_refused_without_asking_dns(
    fake_dns: dict[str, list[str]], host: str
) -> None:
    # Whatever DNS says (or fails to say), names under localhost are loopback.
    fake_dns[host] = ["93.184.216.34"]
    with pytest.raises(TargetNotAllowed, match="loopback"):
        await check_target_host(host, 443, allow_private=False)


@pytest.mark.parametrize("host", ["nowhere.example", "empty.example"])
async def test_dns_failure_is_a_retryable_upstream_error(
    fake_dns: dict[str, list[str]], host: str
) -> None:
    # A name that does not resolve (or resolves to nothing) says nothing about
    # where it points: it is not a policy refusal, and a retry may succeed.
    fake_dns["empty.example"] = []
    with pytest.raises(UpstreamDnsError, match="could not be resolved|no addresses") as caught:
        await check_target_host(host, 443, allow_private=False)
    assert caught.value.status == 502
    assert caught.value.to_json()["error"] == "upstream_dns_error"
    assert caught.value.to_json()["safe_to_retry"] is True


async def test_dns_timeout_is_a_retryable_upstream_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()

    async def hangs(*_: Any, **__: Any) -> list[Any]:
        raise TimeoutError

    monkeypatch.setattr(loop, "getaddrinfo", hangs)
    with pytest.raises(UpstreamDnsError):
        await check_target_host("slow.example", 443, allow_private=False)


async def test_allow_private_skips_the_check(fake_dns: dict[str, list[str]]) -> None:
    assert await check_target_host("127.0.0.1", 80, allow_private=True) == []


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
