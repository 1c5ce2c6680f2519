"""A credential's verify call: one cheap documented GET with the credential injected.

A human names the call (``verify_url``: a URL, or a path for a relative
credential); :func:`check_verify_url` holds it to the credential's target
rules when it is set, and :func:`probe` makes it: the same target
resolution, ``allowed_hosts``, https rule, SSRF guard and injection as
``/forward``, no redirects, and the response body is never read. The result
is the upstream's status as a code (``http_401``), never what it said.

Usage::

    check_verify_url("https://api.example.com/v1/me", credential)   # on create/update
    error = await probe(rt, credential)    # None when the upstream answered 2xx
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import aiohttp
from yarl import URL

from app.errors import CryptoError, InvalidInput, ProxyError
from app.netguard import BlockedAddress
from app.proxy.inject import inject
from app.proxy.ssrf import check_target_host
from app.proxy.target import check_scheme, resolve_target
from app.store.credentials import open_value
from app.store.models import Credential

if TYPE_CHECKING:
    from app.runtime import Runtime

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECS: Final = 15.0


def check_verify_url(verify_url: str, credential: Credential) -> None:
    """Refuse a verify URL that ``/forward`` would refuse for this credential.

    Raises:
        InvalidInput: (field ``verify_url``) not a usable target, or a host
            outside ``allowed_hosts``.
    """
    try:
        resolve_target(verify_url, credential)
    except ProxyError as exc:
        raise InvalidInput("verify_url", exc.message) from None


async def probe(rt: Runtime, credential: Credential) -> str | None:
    """Call the credential's ``verify_url``; ``None`` on a 2xx, else an error code.

    The code is ``http_<status>`` for an upstream answer, ``unreachable`` or
    ``timeout`` for a failed call, or TAP's own error code when the call may
    not be made (``host_not_allowed``, ``target_not_allowed``, ...).
    """
    assert credential.verify_url is not None and rt.http is not None
    try:
        target = resolve_target(credential.verify_url, credential)
        check_scheme(target, credential, allow_loopback_http=rt.config.allow_private_targets)
        await check_target_host(
            target.host, target.port, allow_private=rt.config.allow_private_targets
        )
        value = open_value(rt.keys, credential)
        if value is None:
            return "credential_not_configured"
        headers = inject([], credential, value).headers
    except CryptoError:
        return "credential_unreadable"
    except ProxyError as exc:
        return exc.code
    try:
        async with rt.http.get(
            URL(target.url, encoded=True),
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_SECS),
        ) as response:
            status = response.status
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, BlockedAddress):
            return "target_not_allowed"
        return "unreachable"
    except TimeoutError:
        return "timeout"
    except aiohttp.ClientError:
        return "unreachable"
    logger.info("verify call of credential %s answered %d", credential.name, status)
    return None if 200 <= status < 300 else f"http_{status}"
