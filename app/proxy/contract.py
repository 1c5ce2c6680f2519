"""How ``POST /forward`` is described in the OpenAPI document.

The route is declared like every other operation; these are the parts a
declaration cannot express: the control headers (the names and their order
come from :data:`app.proxy.headers.SUPPORTED`), a body that is passed to the
upstream as raw bytes, and answers that are the upstream's own.
"""

from __future__ import annotations

from typing import Any, Final

from app.proxy.headers import MAX_TARGET_LENGTH

_HEADERS: Final = (
    ("X-TAP-Credential", "The credential's name from GET /agent/services.", False),
    (
        "X-TAP-Target",
        "The full upstream URL, or a path for credentials with a relative target.",
        True,
    ),
    ("X-TAP-Method", "The upstream method (default GET).", False),
    ("X-TAP-Auth-Mode", "auto, bearer or oauth1 (default auto).", False),
)

FORWARD_OPENAPI: Final[dict[str, Any]] = {
    "security": [{"agentKey": []}],
    "parameters": [
        {
            "name": name,
            "in": "header",
            "required": required,
            "description": description,
            "schema": {
                "type": "string",
                **({"maxLength": MAX_TARGET_LENGTH} if name == "X-TAP-Target" else {}),
            },
        }
        for name, description, required in _HEADERS
    ],
    "requestBody": {
        "required": False,
        "description": "The upstream request body, passed on as it is.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    "responses": {
        "200": {
            "description": "The upstream's answer, with every injected secret scrubbed.",
            "content": {"*/*": {"schema": {}}},
        },
        "default": {
            "description": (
                "The upstream's answer with its own status; TAP's own refusals are JSON "
                "{error, message, agent_action, safe_to_retry}."
            ),
            "content": {"*/*": {"schema": {}}},
        },
    },
}
