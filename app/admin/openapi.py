"""``GET /openapi.json``: the whole HTTP API's contract, generated from the declared operations.

Every path, method, body, query and response schema comes from the same
:class:`~app.admin.contract.Operation` records and pydantic models that the
routes validate with, so the document matches the implementation by
construction (a test also checks that every route is documented). Admin
operations are authenticated by a bearer session, the agent API and
``/forward`` by the agent's ``X-TAP-Key``; what a declaration cannot say (the
control headers of ``/forward``, its raw body) it adds as ``openapi`` parts.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from quart import Blueprint, Response, jsonify

from app.admin.contract import OPERATIONS, Operation, operation
from app.admin.schemas import ErrorBody

blueprint = Blueprint("openapi", __name__)

_REF: Final = "#/components/schemas/{model}"
_ERROR_TEXT: Final = {
    400: "The body, query or path is invalid (error: invalid_json, json_not_object, invalid_input, ...).",
    401: "No session or agent key, or an invalid or expired one (error: unauthorized, invalid_tap_key, ...).",
    403: "The role, scope or account state does not allow this (error: forbidden, email_not_verified, ...).",
    404: "No such object in the active team, or not visible to the caller.",
    409: "The object exists already, or the request conflicts with the current state.",
    410: "The invite has expired.",
    412: "The credential requires a passkey approval (error: passkey_required).",
    413: "The body is larger than the endpoint accepts (error: payload_too_large).",
    429: "A bound was reached; see retry_after_secs and Retry-After.",
    502: "The upstream could not be reached (error: upstream_error).",
    503: "TAP's database is unavailable; retry is safe (error: service_unavailable).",
}


def _version() -> str:
    try:
        return metadata.version("tap-proxy")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document for every registered admin operation."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for op in OPERATIONS:
        if op.body is not None:
            models.append((op.body, "validation"))
        for model in op.responses.values():
            if model is not None:
                models.append((model, "serialization"))
    unique = list(dict.fromkeys(models))
    refs, defs = models_json_schema(unique, ref_template=_REF)
    components = dict(defs.get("$defs", {}))

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, ref)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TAP API",
            "version": _version(),
            "description": (
                "The agent API (/forward, /agent/*) and the admin API (accounts, teams, /team/*). "
                "Errors are JSON: {error, message, ...}; agent errors add agent_action and safe_to_retry."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "session": {"type": "http", "scheme": "bearer"},
                "agentKey": {"type": "apiKey", "in": "header", "name": "X-TAP-Key"},
            },
        },
    }


def _operation(op: Operation, ref: Any) -> dict[str, Any]:
    error = {"application/json": {"schema": ref(ErrorBody, "serialization")}}
    responses: dict[str, Any] = {}
    for status, model in op.responses.items():
        if model is None:
            types = op.content_type if status < 400 else "text/plain"
            responses[str(status)] = {
                "description": "See summary.",
                "content": {
                    media: {
                        "schema": {"type": "object"}
                        if media == "application/json"
                        else {"type": "string"}
                    }
                    for media in ((types,) if isinstance(types, str) else types)
                },
            }
        else:
            responses[str(status)] = {
                "description": "Success.",
                "content": {"application/json": {"schema": ref(model, "serialization")}},
            }
    for status in sorted(set(op.errors) | ({400} if op.body or op.query else set())):
        responses.setdefault(
            str(status), {"description": _ERROR_TEXT.get(status, "Error."), "content": error}
        )
    responses["default"] = {
        "description": "Any other error, in the same JSON shape.",
        "content": error,
    }
    document: dict[str, Any] = {
        "operationId": f"{op.tag}_{op.rule.strip('/').replace('/', '_').replace('<', '').replace('>', '').replace('-', '_')}_{op.method.lower()}",
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
        "security": [{"session": []}] if op.authenticated else [],
    }
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {
                "type": "string",
                **({"pattern": op.path_patterns[name]} if name in op.path_patterns else {}),
            },
        }
        for name in op.path_params
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=_REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": _query_schema(prop),
                }
            )
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(op.body, "validation")}},
        }
    for key, value in op.openapi.items():
        if key == "parameters":
            document["parameters"] = [*document.get("parameters", []), *value]
        elif key == "responses":
            document["responses"] = {**document["responses"], **value}
        else:
            document[key] = value
    return document


_DOCUMENT: dict[str, Any] | None = None


@operation(
    blueprint,
    "GET",
    "/openapi.json",
    summary="This document.",
    responses={200: None},
    authenticated=False,
    content_type="application/json",
)
async def openapi_document() -> Response:
    global _DOCUMENT
    if _DOCUMENT is None:
        _DOCUMENT = build_document()
    return jsonify(_DOCUMENT)


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: present with a value, or absent.

    NOTE: a query string has no null, so an optional field's ``anyOf [X, null]``
    is published as ``X``; otherwise a client (or a fuzzer) would read ``null``
    as a value the server could be sent.
    """
    options = prop.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            extra = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
            return {**kept[0], **extra}
    return prop
