"""Pipeline stage: keep forwarded requests away from internal addresses (the SSRF guard).

:func:`check_target_host` is the request-time check: resolve the host once and
refuse it if *any* address is internal. The same rules are enforced again at
connect time by :mod:`app.netguard`, whose resolver and socket factory the
upstream session uses, so the address actually connected to is always one that
passed.

A name that does not resolve is not a policy refusal: DNS fails for reasons
that pass (a resolver outage, a timeout), so it is its own retryable 502.

Usage::

    addresses = await check_target_host("api.example.com", 443, allow_private=False)
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Final

from app.errors import InvalidTarget, TargetNotAllowed, UpstreamDnsError
from app.netguard import IPAddress, internal_reason, is_loopback_host, parse_ip
from app.proxy.context import ForwardContext

logger = logging.getLogger(__name__)

DNS_TIMEOUT_SECS: Final = 5.0
"""Longest the request-time check waits for name resolution."""


async def check_target_host(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` once and refuse it if any address is internal.

    Returns the checked addresses (an IP-literal host is its own address).
    With ``allow_private`` (``DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS``) nothing is
    resolved or checked and the result is empty.

    Raises:
        TargetNotAllowed: an address is internal, or the resolver returned
            something that is not an IP address.
        UpstreamDnsError: the name does not resolve (now); safe to retry.
        InvalidTarget: the name cannot be encoded for DNS.
    """
    if allow_private:
        return []
    if parse_ip(host) is None and is_loopback_host(host):
        # NOTE: "localhost" and its subdomains are loopback by definition (RFC
        # 6761), whatever a resolver says or fails to say about them.
        raise TargetNotAllowed(
            f"X-TAP-Target '{host}' is a loopback name; forwarding to loopback is not allowed",
            host=host,
        )
    literal = parse_ip(host)
    if literal is not None:
        _refuse_if_internal(host, literal)
        return [str(literal)]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), DNS_TIMEOUT_SECS
        )
    except UnicodeError:
        raise InvalidTarget(f"X-TAP-Target host '{host}' is not a valid DNS name") from None
    except (OSError, TimeoutError) as exc:
        # NOTE: resolution failing says nothing about where the name points,
        # so it is an upstream failure to retry, not a verdict on the target.
        raise UpstreamDnsError(
            f"X-TAP-Target host '{host}' could not be resolved", host=host
        ) from exc
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0])
        address = parse_ip(text)
        if address is None:
            raise TargetNotAllowed(
                f"X-TAP-Target host '{host}' resolved to an unusable address", host=host
            )
        _refuse_if_internal(host, address)
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise UpstreamDnsError(f"X-TAP-Target host '{host}' has no addresses", host=host)
    logger.debug("ssrf check passed for host %s (%d addresses)", host, len(addresses))
    return addresses


# -- internals -----------------------------------------------------------------------


def _refuse_if_internal(host: str, address: IPAddress) -> None:
    reason = internal_reason(address)
    if reason is not None:
        raise TargetNotAllowed(
            f"X-TAP-Target '{host}' resolves to internal address {address} ({reason}); "
            "forwarding to loopback, private, link-local, reserved or cloud-metadata "
            "addresses is not allowed",
            host=host,
        )


async def run(ctx: ForwardContext) -> ForwardContext:
    """Pipeline stage: refuse targets that resolve to internal addresses (relative ones too)."""
    await check_target_host(
        ctx.target_host, ctx.target_port, allow_private=ctx.rt.config.allow_private_targets
    )
    return ctx
