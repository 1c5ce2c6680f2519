"""The client of the SKR sidecar (Microsoft's ``aci/skr`` image) on loopback.

The one module that talks to the sidecar, and the boundary where httpx
errors become :class:`~enclave.errors.CustodyError`. The sidecar API::

    GET  /status        200 {"message": "Status OK"} once ready (it also answers
                        200 with "Status NOT OK" before; compared case-insensitively)
    POST /key/release   {"maa_endpoint", "akv_endpoint", "kid"} -> 200 {"key": <JWK or JSON string>}
                        403 {"error": ...} when attestation or release fails
    POST /attest/maa    {"maa_endpoint", "runtime_data": <standard base64>} -> 200 {"token": <JWT>}

Safe defaults are visible: no redirects, a timeout on every request, bodies
capped, and a bounded wait for readiness. Nothing read from the sidecar is
logged except statuses and sizes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from typing import Any, Final

import httpx

from enclave.errors import CustodyError

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECS: Final = 30.0
"""One release or attestation call; bounds boot time if the sidecar hangs."""
STATUS_TIMEOUT_SECS: Final = 2.0
STATUS_POLL_SECS: Final = 0.5
MAX_BODY_BYTES: Final = 256 * 1024
MAX_ERROR_CHARS: Final = 300


def _printable(text: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return cleaned[:MAX_ERROR_CHARS]


def _error_text(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return "a non-JSON body"
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return _printable(parsed["error"])
    return "no error message"


class SidecarClient:
    """Calls the sidecar at ``base_url`` (``http://127.0.0.1:<port>``)."""

    def __init__(self, base_url: str, *, timeout_secs: float = REQUEST_TIMEOUT_SECS) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout_secs

    def _client(self, timeout: float) -> httpx.AsyncClient:
        # NOTE: trust_env=False: a proxy variable must never route key release elsewhere.
        return httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=False)

    async def wait_ready(self, wait_secs: float) -> None:
        """Poll ``/status`` until it says OK.

        Raises CustodyError(``sidecar.status``) once ``wait_secs`` have passed.
        """
        deadline = time.monotonic() + wait_secs
        last = "no answer"
        async with self._client(STATUS_TIMEOUT_SECS) as client:
            while True:
                try:
                    response = await client.get(self._base + "/status")
                    if response.status_code == httpx.codes.OK:
                        message = response.json().get("message") if response.content else None
                        if isinstance(message, str) and message.strip().lower() == "status ok":
                            logger.debug("SKR sidecar ready at %s", self._base)
                            return
                        last = "not ready yet"
                    else:
                        last = f"status {response.status_code}"
                except (httpx.HTTPError, ValueError, AttributeError) as exc:
                    last = type(exc).__name__
                if time.monotonic() + STATUS_POLL_SECS > deadline:
                    raise CustodyError(
                        "sidecar.status",
                        f"the SKR sidecar at {self._base} was not ready within {wait_secs:g} s "
                        f"(last: {last}); check that the skr container runs in the same container "
                        "group and read its log",
                    )
                await asyncio.sleep(STATUS_POLL_SECS)

    async def _post(
        self, path: str, payload: dict[str, str], *, step: str, what: str
    ) -> dict[str, Any]:
        url = self._base + path
        try:
            async with (
                self._client(self._timeout) as client,
                client.stream("POST", url, json=payload) as response,
            ):
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise CustodyError(
                            step,
                            f"the sidecar's {what} answer is larger than {MAX_BODY_BYTES} bytes",
                        )
                status = response.status_code
        except httpx.TimeoutException as exc:
            raise CustodyError(
                step, f"the sidecar did not answer {path} within {self._timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise CustodyError(
                step, f"cannot reach the sidecar at {self._base} ({type(exc).__name__})"
            ) from exc
        if status == httpx.codes.FORBIDDEN:
            raise CustodyError(
                step,
                f"the sidecar answered 403 to {path}: {_error_text(bytes(body))}. Attestation or "
                "release was refused: check that the key's release policy authorizes this "
                "deployment's x-ms-sevsnpvm-hostdata and that the group's managed identity has "
                "keys/release",
            )
        if status != httpx.codes.OK:
            raise CustodyError(
                step, f"the sidecar answered {status} to {path}: {_error_text(bytes(body))}"
            )
        try:
            parsed = json.loads(bytes(body))
        except ValueError:
            raise CustodyError(
                step, f"the sidecar's {what} answer is not one JSON object"
            ) from None
        if not isinstance(parsed, dict):
            raise CustodyError(step, f"the sidecar's {what} answer is not a JSON object")
        return parsed

    async def release_key(self, *, maa_host: str, akv_host: str, kid: str) -> object:
        """Ask for the KEK; return the ``key`` member (a JWK object or string).

        Raises CustodyError(``sidecar.release``).
        """
        body = await self._post(
            "/key/release",
            {"maa_endpoint": maa_host, "akv_endpoint": akv_host, "kid": kid},
            step="sidecar.release",
            what="key release",
        )
        if "key" not in body:
            raise CustodyError(
                "sidecar.release", "the sidecar's key release answer has no 'key' member"
            )
        return body["key"]

    async def attest_maa(
        self, *, maa_host: str, runtime_data: bytes, step: str = "sidecar.attest"
    ) -> str:
        """Ask for an MAA token over ``runtime_data``. Raises CustodyError(``step``)."""
        body = await self._post(
            "/attest/maa",
            {
                "maa_endpoint": maa_host,
                "runtime_data": base64.b64encode(runtime_data).decode("ascii"),
            },
            step=step,
            what="attestation",
        )
        token = body.get("token")
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > MAX_BODY_BYTES:
            raise CustodyError(step, "the sidecar's attestation answer has no token")
        return token
