"""What agents read besides ``/forward``: discovery, their logs, their approvals.

Everything here is scoped by the calling agent's team *and* id. Nothing
returns a credential value, an internal URL of a sidecar, or another agent's
data.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any, Final

from pydantic import Field, model_validator
from quart import Blueprint, Response, jsonify, redirect, request

from app import audit_record
from app.admin.contract import operation
from app.admin.schemas import Binding, Host, LongText, RequestModel, ShortText
from app.credential_kinds import KINDS
from app.errors import (
    AgentNotConfigured,
    InvalidCredentialName,
    NotYourTransaction,
    SecretNotAccepted,
    TransactionNotFound,
)
from app.proxy import authenticate
from app.proxy.access import credential_link_url
from app.proxy.headers import SUPPORTED
from app.store import approvals, audit, credentials, policies, teams
from app.store.credentials import NAME_PATTERN
from app.store.models import Agent, Credential, Policy
from app.webstate import runtime

blueprint = Blueprint("agent_api", __name__)

LOGS_DEFAULT: Final = 20
LOGS_MAX: Final = 100
# Body members that would carry a secret; their mere presence refuses the request.
_SECRET_FIELDS: Final = ("value", "secret", "token", "api_key", "password")

# How agent endpoints are documented: authenticated by the agent's key, not a session.
AGENT_KEY: Final[dict[str, Any]] = {"security": [{"agentKey": []}]}
AGENT_ERRORS: Final = (401, 503)


class CredentialLinkBody(RequestModel):
    """``POST /agent/credential-link``: a credential's name and metadata, never its value."""

    name: ShortText
    description: LongText | None = None
    api_base: ShortText | None = None
    relative_target: bool | None = None
    auth_header_format: ShortText | None = None
    auth_bindings: list[Binding] | None = Field(default=None, max_length=16)
    allowed_hosts: list[Host] | None = Field(default=None, max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _no_secret(cls, data: Any) -> Any:
        # NOTE: checked before any field, so a secret is refused even when the
        # rest of the body is malformed. SecretNotAccepted is not a ValueError,
        # so pydantic lets it through as it is.
        if isinstance(data, dict) and any(key in data for key in _SECRET_FIELDS):
            raise SecretNotAccepted(
                "Credential link requests must not include 'value' or any secret.",
                detail="Send only the name and metadata; a human enters the secret in the dashboard.",
            )
        return data


async def _agents(*, single: bool) -> list[Agent]:
    return await authenticate.authenticate_all(
        runtime(), request.headers.get("X-TAP-Key", ""), single=single
    )


async def _listable(agent: Agent) -> list[Credential]:
    every = await credentials.list_all(runtime().pool, agent.team_id)
    return [c for c in every if c.name in agent.effective_credentials]


def _public_api_base(cred: Credential) -> str | None:
    """``api_base`` where an agent may see it: never a sidecar's (an internal URL)."""
    return cred.api_base if cred.connector == "direct" else None


def _target_placeholder(cred: Credential) -> str:
    if cred.relative_target:
        return "<relative path like /resource?limit=10>"
    base = _public_api_base(cred)
    if base:
        return f"{base.rstrip('/')}/<path>"
    return "<full upstream url>"


# How each way of injecting shows to an agent: (auth_mode, headers TAP sets, how to call it).
_HOW_TO_CALL: Final[dict[str, tuple[str, list[str], str]]] = {
    "oauth1": (
        "oauth1_signature",
        ["Authorization"],
        "TAP signs each request with OAuth 1.0a (method, URL, query and form body). "
        "Send the final request as the upstream should see it; X-TAP-Auth-Mode: bearer "
        "or oauth1 picks the scheme when the credential has both.",
    ),
    "aws-sigv4": (
        "aws_sigv4_signature",
        ["Authorization", "X-Amz-Date", "X-Amz-Content-SHA256", "X-Amz-Security-Token"],
        "TAP signs each request with AWS Signature V4 (payload hash included). Send the "
        "final request; do not send Authorization or X-Amz-Date yourself.",
    ),
    "oauth2": (
        "oauth2_bearer",
        ["Authorization"],
        "TAP obtains and refreshes the OAuth 2 access token and sends it as a Bearer token.",
    ),
    "sidecar": (
        "oauth_sidecar",
        [],
        "A connector service next to TAP authenticates the request; send the target as "
        "target_placeholder shows.",
    ),
}


def _auth(cred: Credential) -> tuple[str, list[str], str]:
    kind = KINDS.get(cred.auth_type, KINDS["api-key"])
    if kind.injection in _HOW_TO_CALL:
        return _HOW_TO_CALL[kind.injection]
    if cred.auth_bindings:
        return (
            "custom_headers",
            [b.header for b in cred.auth_bindings],
            "TAP sets the named headers; do not send them yourself.",
        )
    return (
        "authorization_header",
        ["Authorization"],
        "TAP sets the Authorization header; do not send it yourself.",
    )


def _approval_rules(policy: Policy | None, team_mode: str) -> list[dict[str, Any]]:
    if policy is None:
        auto = (
            ["GET", "HEAD"]
            if team_mode == "gated"
            else ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        )
        require = ["POST", "PUT", "PATCH", "DELETE"] if team_mode == "gated" else []
        return [
            {"target": "*", "methods": auto, "decision": "proceeds_immediately"},
            *(
                [{"target": "*", "methods": require, "decision": "pauses_for_human"}]
                if require
                else []
            ),
        ]
    rules: list[dict[str, Any]] = [
        {"target": p, "methods": "ANY", "decision": "pauses_for_human", "priority": "url_override"}
        for p in policy.require_approval_urls
    ]
    rules += [
        {
            "target": p,
            "methods": "ANY",
            "decision": "proceeds_immediately",
            "priority": "url_override",
        }
        for p in policy.auto_approve_urls
    ]
    auto = list(policy.auto_approve_methods)
    if "GET" in auto and "HEAD" not in auto:
        auto.append("HEAD")
    if auto:
        rules.append({"target": "*", "methods": auto, "decision": "proceeds_immediately"})
    if policy.require_approval_methods:
        rules.append(
            {
                "target": "*",
                "methods": list(policy.require_approval_methods),
                "decision": "pauses_for_human",
            }
        )
    rules.append({"target": "*", "methods": "OTHER", "decision": "pauses_for_human"})
    return rules


def _service(cred: Credential, policy: Policy | None, team_mode: str) -> dict[str, Any]:
    placeholder = _target_placeholder(cred)
    headers = {
        "X-TAP-Key": "$TAP_API_KEY",
        "X-TAP-Credential": cred.name,
        "X-TAP-Target": placeholder,
        "X-TAP-Method": "GET|POST|PUT|PATCH|DELETE",
    }
    auth_mode, header_names, how = _auth(cred)
    entry: dict[str, Any] = {
        "description": cred.description,
        "kind": {"name": cred.auth_type, "how_to_call": how},
        "target_shape": "relative_path" if cred.relative_target else "full_url",
        "target_placeholder": placeholder,
        "auth_mode": auth_mode,
        "auth_header_names": header_names,
        "allowed_hosts": list(cred.allowed_hosts),
        "request_template": {
            "method": "POST",
            "url": "$TAP_PROXY_URL/forward",
            "headers": headers,
            "body": "the upstream request body, sent as the HTTP body",
        },
        "approval": {
            "rules": _approval_rules(policy, team_mode),
            "url_match": "path_prefix_or_exact_host_path_prefix_with_star_segments",
        },
        "common_mistakes": [
            "Always POST to /forward; the upstream method goes in X-TAP-Method.",
            "Do not invent X-TAP-* headers; unknown ones are refused with 400.",
            "Do not send Authorization yourself; TAP injects the credential.",
        ],
    }
    if cred.relative_target:
        entry["target_is_relative_path"] = True
    elif _public_api_base(cred):
        entry["target_base"] = _public_api_base(cred)
    return entry


@operation(
    blueprint,
    "GET",
    "/",
    summary="Redirects to the dashboard.",
    responses={303: None},
    authenticated=False,
    content_type="text/html",
)
async def index() -> Response:
    return redirect("/dashboard", 303)  # type: ignore[return-value]


@operation(
    blueprint,
    "GET",
    "/instructions",
    summary="Plain-text instructions for an agent.",
    responses={200: None},
    authenticated=False,
    content_type="text/plain",
)
async def instructions() -> Response:
    base = runtime().config.base_url
    text = f"""TAP — Tool Authorization Proxy
Proxy: {base}

You never hold API secrets. You ask TAP to make a call with a credential by its name;
TAP injects the secret, forwards the call, and removes the secret from the answer.

1. Discover what you may use:  GET {base}/agent/services   (header X-TAP-Key: $TAP_API_KEY)
2. Make a call.  Always POST to /forward, whatever the upstream method:
     POST {base}/forward
     X-TAP-Key: $TAP_API_KEY
     X-TAP-Credential: <credential name>
     X-TAP-Target: <full upstream URL, or a path for relative credentials>
     X-TAP-Method: GET | POST | PUT | PATCH | DELETE   (default GET)
   The upstream request body goes in the HTTP body. Other headers pass through unchanged.
   Unknown X-TAP-* headers return 400.
3. Writes may need a human: a 202 answer carries poll_url; poll it until the status is
   forwarded, denied, timed_out or error.
4. Multi-secret credentials: use <CREDENTIAL:name.field> in a header when no binding exists.
5. Missing a credential? POST /agent/credential-link with its name (never the value) and
   give the returned link to a human.
"""
    return Response(text, content_type="text/plain; charset=utf-8")


@operation(
    blueprint,
    "GET",
    "/agent/bootstrap",
    summary="The calling agent's status and where to go next.",
    responses={200: None},
    authenticated=False,
    errors=AGENT_ERRORS,
    openapi=AGENT_KEY,
)
async def bootstrap() -> Response:
    (agent,) = await _agents(single=True)
    count = len(await _listable(agent))
    return jsonify(
        {
            "protocol": "tap",
            "version": 1,
            "status": "ready" if count else "needs_credentials",
            "agent_id": agent.id,
            "team_id": agent.team_id,
            "credential_count": count,
            "dashboard_url": runtime().config.dashboard_url + "/dashboard",
            "services_url": "/agent/services",
            "forward_url": "/forward",
            "logs_url": "/agent/logs",
            "agent_action": "Call GET /agent/services next."
            if count
            else "Ask a human to grant you credentials.",
            "safe_to_retry": True,
        }
    )


@operation(
    blueprint,
    "GET",
    "/agent/services",
    summary="The credentials the key (or comma-separated keys) may use, with request templates.",
    responses={200: None},
    authenticated=False,
    errors=AGENT_ERRORS,
    openapi=AGENT_KEY,
)
async def services() -> Response:
    header = request.headers.get("X-TAP-Key", "")
    keys = [k.strip() for k in header.split(",") if k.strip()]
    multi = len(keys) > 1
    found = await _agents(single=False)
    rt = runtime()
    result: dict[str, Any] = {"services": {}}
    accounts: dict[str, Any] = {}
    for agent in found:
        async with rt.pool.acquire() as conn:
            mode = await teams.default_mode(conn, agent.team_id)
            for cred in await _listable(agent):
                policy = await policies.get(conn, agent.team_id, cred.name)
                entry = _service(cred, policy, mode)
                if multi:
                    entry["account"] = agent.id
                    result["services"][f"{agent.id}.{cred.name}"] = entry
                else:
                    result["services"][cred.name] = entry
        if multi:
            accounts[agent.id] = {"agent_id": agent.id, "key_index": await _key_index(keys, agent)}
    if multi:
        result["accounts"] = accounts
    else:
        result["agent_id"] = found[0].id
        result["home_team_id"] = found[0].team_id
    result["usage"] = {
        "supported_tap_headers": list(SUPPORTED),
        "unknown_tap_headers_rejected_with_400": True,
        "headers": {"X-TAP-Credential": "the credential name from services"},
        "custom_upstream_headers": (
            "Any other header is passed to the upstream unchanged, except hop-by-hop headers "
            "and those naming the client or proxies (X-Forwarded-*, Forwarded, Via, X-Real-Ip)."
        ),
    }
    result["approval"] = {
        "timeout_seconds": rt.config.approval_timeout_secs,
        "async_polling": "A 202 answer carries poll_url; statuses: pending, forwarded, denied, timed_out, error.",
    }
    if not result["services"]:
        result["agent_action"] = "You have no credentials yet; ask a human to grant some."
    return jsonify(result)


async def _key_index(keys: list[str], agent: Agent) -> int | None:
    for index, key in enumerate(keys):
        if await authenticate.lookup(runtime(), key) == agent:
            return index
    return None


@operation(
    blueprint,
    "GET",
    "/agent/config",
    summary="The credentials granted to the calling agent.",
    responses={200: None},
    authenticated=False,
    errors=(*AGENT_ERRORS, 404),
    openapi=AGENT_KEY,
)
async def agent_config() -> Response:
    (agent,) = await _agents(single=True)
    creds = await _listable(agent)
    if not creds:
        raise AgentNotConfigured("Agent not configured: no credentials are granted to it.")
    return jsonify(
        {
            "agent_id": agent.id,
            "credentials": [
                {"name": c.name, "description": c.description, "api_base": _public_api_base(c)}
                for c in creds
            ],
        }
    )


@operation(
    blueprint,
    "GET",
    "/agent/logs",
    summary="The calling agent's latest audit entries, newest first.",
    responses={200: None},
    authenticated=False,
    errors=AGENT_ERRORS,
    openapi={
        **AGENT_KEY,
        "parameters": [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Entries to return, clamped to 1..{LOGS_MAX}; "
                f"anything that is not a number means {LOGS_DEFAULT}.",
                "schema": {"type": "string"},
            }
        ],
    },
)
async def agent_logs() -> Response:
    (agent,) = await _agents(single=True)
    try:
        limit = int(request.args.get("limit", LOGS_DEFAULT))
    except ValueError:
        limit = LOGS_DEFAULT
    limit = max(1, min(limit, LOGS_MAX))
    entries = await audit.for_agent(runtime().pool, agent.team_id, agent.id, limit)
    return jsonify(
        {
            "agent_id": agent.id,
            "count": len(entries),
            "entries": [audit_record.render(e) for e in entries],
        }
    )


@operation(
    blueprint,
    "GET",
    "/agent/approvals/<txn>",
    summary="The state of a parked request, and its upstream answer once (then it is purged).",
    responses={200: None},
    authenticated=False,
    errors=(*AGENT_ERRORS, 403, 404),
    openapi=AGENT_KEY,
)
async def agent_approval(txn: str) -> Response:
    (agent,) = await _agents(single=True)
    try:
        txn_id = uuid.UUID(txn)
    except ValueError:
        raise TransactionNotFound("Transaction not found.") from None
    pool = runtime().pool
    row = await approvals.poll(pool, txn_id)
    if row is None:
        raise TransactionNotFound("Transaction not found.")
    if (row["team_id"], row["agent_id"]) != (agent.team_id, agent.id):
        raise NotYourTransaction("Not your transaction.")
    body: dict[str, Any] = {
        "txn_id": str(txn_id),
        "status": row["agent_status"],
        "created_at": row["created_at"].isoformat(),
        "expires_at": row["expires_at"].isoformat(),
        # What the approvers decided on: the request body's size and SHA-256.
        "body_size": row["body_size"],
        "body_sha256": row["body_sha256"],
    }
    if row["agent_status"] == "forwarded":
        stored = row["response_body"]
        response: dict[str, Any] = {
            "status": row["response_status"],
            "complete": stored is not None,
        }
        if stored is not None:
            response["headers"] = json.loads(row["response_headers"] or "[]")
            try:
                response["body"], response["body_encoding"] = stored.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                response["body"], response["body_encoding"] = (
                    base64.b64encode(stored).decode(),
                    "base64",
                )
        else:
            response["note"] = (
                "The response was already delivered to an earlier poll and has been deleted."
            )
        body["response"] = response
    if row["response_error"]:
        body["error_detail"] = row["response_error"]
    if row["agent_status"] != "pending":
        await approvals.purge_delivered(pool, txn_id)
    return jsonify(body)


@operation(
    blueprint,
    "POST",
    "/agent/credential-link",
    summary="A dashboard link a human opens to add a missing credential (the agent sends no secret).",
    responses={200: None},
    authenticated=False,
    body=CredentialLinkBody,
    errors=(*AGENT_ERRORS, 413),
    openapi=AGENT_KEY,
)
async def credential_link(body: CredentialLinkBody) -> Response:
    await _agents(single=True)
    name = body.name.strip().lower()
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidCredentialName(
            "Credential names are 1-64 lowercase alphanumeric characters or hyphens.",
            detail="For example: github, stripe-test, openai.",
        )
    payload = body.model_dump(mode="json") | {"name": name}
    return jsonify(
        {
            "create_url": credential_link_url(runtime(), payload),
            "agent_action": "Give this link to a human; they add the secret. Then retry your request.",
        }
    )
