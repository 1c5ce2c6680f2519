"""``GET /attestation?nonce=...``: a fresh attestation token bound to the caller's nonce.

In enclave mode the answer is ``200 {"token": "<MAA JWT>", "dek_origin": ...}``:
the SKR sidecar asks Microsoft Azure Attestation for a token whose runtime data
is the JSON object ``{"build_sha", "dek_origin", "nonce", "tls-spki-sha256"}``
(``attestation.runtime_data``), which MAA copies into ``x-ms-runtime``. A client
that chose the nonce knows the token is fresh and was made for this instance,
and that the TLS key it talked to (``TAP_TLS_CERT_FILE``) is the attested one
(``tap-attest verify-instance`` does exactly that). ``dek_origin`` says whether
the data key was ``generated`` inside the enclave or ``migrated`` in from an
environment key (``null`` when the database predates that record); the
attested copy is the one in the token.

- The nonce is 16 to 128 characters of hex or base64url; anything else is
  ``400 {"error": "invalid_nonce"}``.
- Without the enclave feature there is nothing to attest: ``404``.
- When the sidecar cannot give a token, the TLS certificate cannot be read or
  the database cannot be asked: ``503 {"error": "attestation_unavailable"}``.

Only ``enclave`` is called; nothing here knows about Azure.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from quart import Blueprint, request

import enclave
from app.errors import StoreError
from app.store import custody
from app.webstate import runtime

logger = logging.getLogger(__name__)

blueprint = Blueprint("attestation", __name__)

NONCE_MIN_CHARS: Final = 16
NONCE_MAX_CHARS: Final = 128
_NONCE = re.compile(r"[A-Za-z0-9_-]+")

Reply = tuple[dict[str, Any], int, dict[str, str]]
_NO_STORE: Final = {"Cache-Control": "no-store"}


def _error(status: int, code: str, message: str) -> Reply:
    return {"error": code, "message": message}, status, _NO_STORE


@blueprint.get("/attestation")
async def attestation() -> Reply:
    config = runtime().config
    if not config.enclave:
        return _error(404, "not_found", "this instance does not run in a confidential container")
    nonce = request.args.get("nonce", "")
    if not NONCE_MIN_CHARS <= len(nonce) <= NONCE_MAX_CHARS or _NONCE.fullmatch(nonce) is None:
        return _error(
            400,
            "invalid_nonce",
            f"nonce must be {NONCE_MIN_CHARS} to {NONCE_MAX_CHARS} hex or base64url characters",
        )
    try:
        origin = await custody.PostgresWrappedKeyStore(runtime().pool).get_dek_origin()
        token = await enclave.fetch_attestation_token(config, nonce, dek_origin=origin)
    except StoreError:
        logger.warning("attestation token unavailable: the database cannot be asked")
        return _error(503, "attestation_unavailable", "no attestation token could be obtained")
    except enclave.CustodyError as exc:
        # NOTE: the step is logged, the nonce (the caller's input) is not.
        logger.warning("attestation token unavailable: %s", exc.step)
        return _error(503, "attestation_unavailable", "no attestation token could be obtained")
    return {"token": token, "dek_origin": origin}, 200, _NO_STORE
