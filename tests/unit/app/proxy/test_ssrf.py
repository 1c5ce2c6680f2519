"""Tests for app.proxy.ssrf: the request-time check (the address tables are in test_netguard)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from app.errors import TargetNotAllowed, UpstreamDnsError
from app.proxy.ssrf import check_target_host

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
