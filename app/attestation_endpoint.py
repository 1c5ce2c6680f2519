"""``GET /attestation?nonce=...``: a fresh attestation token bound to the caller's nonce.

In enclave mode the answer is ``200 {"token": "<MAA JWT>"}``: the SKR sidecar
asks Microsoft Azure Attestation for a token whose runtime data is the JSON
object ``{"nonce": "<nonce>"}``, which MAA copies into ``x-ms-runtime``. A
client that chose the nonce knows the token is fresh and was made for this
instance (``tap-attest verify-instance`` does exactly that).

- The nonce is 16 to 128 characters of hex or base64url; anything else is
  ``400 {"error": "invalid_nonce"}``.
- Without the enclave feature there is nothing to attest: ``404``.
- When the sidecar cannot give a token: ``503 {"error": "attestation_unavailable"}``.

Only ``enclave`` is called; nothing here knows about Azure.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from quart import Blueprint, Response, request

import enclave
from app.errors import AttestationUnavailable, InvalidNonce, RouteNotFound
from app.webstate import runtime

logger = logging.getLogger(__name__)

blueprint = Blueprint("attestation", __name__)

NONCE_MIN_CHARS: Final = 16
NONCE_MAX_CHARS: Final = 128
_NONCE = re.compile(r"[A-Za-z0-9_-]+")


@blueprint.after_request
async def no_store(response: Response) -> Response:
    """Every answer, refusals included: a token is fresh only once, and a 404 must not be cached."""
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/attestation")
async def attestation() -> dict[str, Any]:
    config = runtime().config
    if not config.enclave:
        raise RouteNotFound("this instance does not run in a confidential container")
    nonce = request.args.get("nonce", "")
    if not NONCE_MIN_CHARS <= len(nonce) <= NONCE_MAX_CHARS or _NONCE.fullmatch(nonce) is None:
        raise InvalidNonce(
            f"nonce must be {NONCE_MIN_CHARS} to {NONCE_MAX_CHARS} hex or base64url characters"
        )
    try:
        token = await enclave.fetch_attestation_token(config, nonce)
    except enclave.CustodyError as exc:
        # NOTE: the step is logged, the nonce (the caller's input) is not.
        logger.warning("attestation token unavailable: %s", exc.step)
        raise AttestationUnavailable("no attestation token could be obtained") from None
    return {"token": token}
