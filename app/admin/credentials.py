"""``/team/credentials``: configuration in, ``value_hint`` out. Values are write-only.

Owners and admins manage every credential. Approvers list and read only the
credentials assigned to them; every other name answers 404, exactly as a
name that does not exist, so they cannot even learn which names exist.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, path_value, respond
from app.admin.schemas import (
    BindingOut,
    CredentialChanged,
    CredentialCreateBody,
    CredentialCreated,
    CredentialList,
    CredentialOut,
    CredentialSecretBody,
    CredentialUpdateBody,
    CredentialVerified,
    Deleted,
)
from app.errors import (
    InvalidInput,
    OAuthRefreshFailed,
    ProxyError,
    ResourceNotFound,
    ValidationFailed,
    VerifyUnsupported,
)
from app.oauth2 import tokens as oauth2_tokens
from app.oauth2.bundle import oauth2_value
from app.proxy.probe import check_verify_url, probe
from app.secret import Secret
from app.store import credentials as credentials_store
from app.store import db, members
from app.store.db import Conn
from app.store.events import team_changed
from app.store.models import Credential
from app.webstate import runtime

blueprint = Blueprint("credentials", __name__)

_NAME = {"name": credentials_store.NAME_PATTERN.pattern}


def credential_out(credential: Credential) -> CredentialOut:
    return CredentialOut(
        name=credential.name,
        description=credential.description,
        auth_type=credential.auth_type,
        connector=credential.connector,
        api_base=credential.api_base,
        relative_target=credential.relative_target,
        auth_header_format=credential.auth_header_format,
        auth_bindings=[
            BindingOut(header=b.header, format=b.format) for b in credential.auth_bindings
        ],
        allowed_hosts=list(credential.allowed_hosts),
        allow_http=credential.allow_http,
        has_value=credential.sealed_value is not None,
        value_hint=credential.value_hint,
        allow_unscannable_responses=credential.allow_unscannable_responses,
        verify_url=credential.verify_url,
        created_at=credential.created_at,
        updated_at=credential.updated_at,
    )


async def visible_names(conn: Conn, caller: Caller) -> set[str] | None:
    """The credential names the caller may see; None means all of them."""
    if caller.can("manage_credentials"):
        return None
    return await members.assigned_credentials(conn, caller.team_id, caller.user_id)


def credential_name(raw: str) -> str:
    """The credential named in a path. Raises ResourceNotFound for anything that cannot name one."""
    return path_value(raw, credentials_store.NAME_PATTERN, "credential")


def _value(raw: str | dict[str, Any], auth_type: str, allowed_hosts: Sequence[str] = ()) -> Secret:
    """The value to store: an OAuth 2 bundle is validated per field and stored canonical."""
    if auth_type == "oauth2":
        return Secret(oauth2_value(raw, allowed_hosts))
    return Secret(raw if isinstance(raw, str) else json.dumps(raw))


@operation(
    blueprint,
    "GET",
    "/team/credentials",
    summary="Credentials of the team (approvers: only those assigned to them). Never values.",
    responses={200: CredentialList},
    errors=SESSION_ERRORS,
)
async def list_credentials(caller: Caller) -> Response:
    async with db.transaction(runtime().pool) as conn:
        visible = await visible_names(conn, caller)
        rows = await credentials_store.list_all(conn, caller.team_id)
    return respond(
        CredentialList(
            credentials=[credential_out(c) for c in rows if visible is None or c.name in visible]
        )
    )


@operation(
    blueprint,
    "POST",
    "/team/credentials",
    summary="Create a credential (owners and admins). allowed_hosts is required unless relative_target.",
    body=CredentialCreateBody,
    responses={201: CredentialCreated},
    errors=(400, 409, *SESSION_ERRORS),
    permission="manage_credentials",
)
async def create_credential(body: CredentialCreateBody, caller: Caller) -> Response:
    problem = body.destination_problem()
    if problem is not None:
        raise ValidationFailed(problem)
    state = runtime()
    async with db.transaction(state.pool) as conn:
        credential = await credentials_store.create(
            conn,
            state.keys,
            team_id=caller.team_id,
            name=body.name,
            description=body.description,
            auth_type=body.auth_type,
            api_base=body.api_base,
            relative_target=body.relative_target,
            auth_header_format=body.auth_header_format,
            auth_bindings=[b.model_dump() for b in body.auth_bindings],
            allowed_hosts=body.allowed_hosts,
            allow_http=body.allow_http,
            value=_value(body.value, body.auth_type, body.allowed_hosts)
            if body.value is not None
            else None,
            allow_unscannable_responses=body.allow_unscannable_responses,
        )
        if body.verify_url is not None:
            check_verify_url(body.verify_url, credential)
            await credentials_store.set_verify_url(
                conn, caller.team_id, credential.name, body.verify_url
            )
        await team_changed(conn, caller.team_id)
    return respond(
        CredentialCreated(name=credential.name, created=True, value_hint=credential.value_hint), 201
    )


@operation(
    blueprint,
    "GET",
    "/team/credentials/<name>",
    summary="One credential's configuration and value_hint.",
    responses={200: CredentialOut},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_NAME,
)
async def get_credential(name: str, caller: Caller) -> Response:
    name = credential_name(name)
    async with db.transaction(runtime().pool) as conn:
        visible = await visible_names(conn, caller)
        credential = await credentials_store.find(conn, caller.team_id, name)
    if credential is None or (visible is not None and name not in visible):
        raise ResourceNotFound(f"credential {name!r} does not exist")
    return respond(credential_out(credential))


@operation(
    blueprint,
    "PATCH",
    "/team/credentials/<name>",
    summary="Change a credential's configuration (only the fields sent). The value is changed under /secret.",
    body=CredentialUpdateBody,
    responses={200: CredentialOut},
    errors=(400, 404, *SESSION_ERRORS),
    path_patterns=_NAME,
    permission="manage_credentials",
)
async def update_credential(name: str, body: CredentialUpdateBody, caller: Caller) -> Response:
    name = credential_name(name)
    sent = body.model_fields_set
    async with db.transaction(runtime().pool) as conn:
        credential = await credentials_store.update(
            conn,
            team_id=caller.team_id,
            name=name,
            description=body.description,
            api_base=body.api_base,
            clear_api_base="api_base" in sent and body.api_base is None,
            relative_target=body.relative_target,
            auth_header_format=body.auth_header_format,
            clear_auth_header_format="auth_header_format" in sent
            and body.auth_header_format is None,
            auth_bindings=[b.model_dump() for b in body.auth_bindings]
            if body.auth_bindings is not None
            else None,
            allowed_hosts=body.allowed_hosts,
            allow_unscannable_responses=body.allow_unscannable_responses,
            allow_http=body.allow_http,
        )
        if "verify_url" in sent:
            if body.verify_url is not None:
                check_verify_url(body.verify_url, credential)
            await credentials_store.set_verify_url(conn, caller.team_id, name, body.verify_url)
            credential = await credentials_store.get(conn, caller.team_id, name)
        await team_changed(conn, caller.team_id)
    return respond(credential_out(credential))


@operation(
    blueprint,
    "PATCH",
    "/team/credentials/<name>/secret",
    summary="Replace the value ({value}) or merge fields into a JSON-object value ({value_patch}). Never echoed.",
    body=CredentialSecretBody,
    responses={200: CredentialChanged},
    errors=(400, 404, *SESSION_ERRORS),
    path_patterns=_NAME,
    permission="manage_credentials",
)
async def replace_secret(name: str, body: CredentialSecretBody, caller: Caller) -> Response:
    name = credential_name(name)
    if (body.value is None) == (body.value_patch is None):
        raise ValidationFailed("send exactly one of value or value_patch")
    state = runtime()
    async with db.transaction(state.pool) as conn:
        current = await credentials_store.find(conn, caller.team_id, name)
        if current is None:
            raise ResourceNotFound(f"credential {name!r} does not exist")
        if body.value_patch is not None:
            merged: dict[str, Any] = {}
            keys = await state.keys_for(current.key_version)
            opened = credentials_store.open_value(keys, current)
            if opened is not None:
                try:
                    merged = json.loads(opened.reveal())
                except ValueError:
                    merged = {}
                if not isinstance(merged, dict) or not merged:
                    raise InvalidInput(
                        "value_patch",
                        "the stored value is not a JSON object; replace it with value",
                    )
            merged.update(body.value_patch)
            new_value = _value(merged, current.auth_type, current.allowed_hosts)
        else:
            assert body.value is not None
            new_value = _value(body.value, current.auth_type, current.allowed_hosts)
        await credentials_store.set_value(conn, state.keys, caller.team_id, name, new_value)
        updated = await credentials_store.get(conn, caller.team_id, name)
        await team_changed(conn, caller.team_id)
    return respond(CredentialChanged(name=name, updated=True, value_hint=updated.value_hint))


@operation(
    blueprint,
    "POST",
    "/team/credentials/<name>/verify",
    summary="Check a credential against its upstream: oauth2 obtains a new token, other kinds "
    "call their verify_url. Reports ok or the upstream's error code; never a secret.",
    responses={200: CredentialVerified},
    errors=(400, 404, *SESSION_ERRORS),
    path_patterns=_NAME,
    permission="manage_credentials",
)
async def verify_credential(name: str, caller: Caller) -> Response:
    name = credential_name(name)
    state = runtime()
    async with db.transaction(state.pool) as conn:
        credential = await credentials_store.find(conn, caller.team_id, name)
    if credential is None:
        raise ResourceNotFound(f"credential {name!r} does not exist")
    if credential.auth_type != "oauth2":
        if credential.verify_url is None:
            raise VerifyUnsupported(
                f"credential {name!r} names no verify_url, and TAP has no check of its own "
                f"for {credential.auth_type} credentials",
                credential=name,
            )
        error = await probe(state, credential)
        return respond(
            CredentialVerified(
                name=name,
                kind=credential.auth_type,
                check="verify_url",
                ok=error is None,
                error=error,
            )
        )
    error = None
    try:
        await oauth2_tokens.verify(state, credential)
    except OAuthRefreshFailed as exc:
        error = str(exc.extra.get("oauth_error") or exc.code)
    except ProxyError as exc:
        # The value is missing, does not open, or is not a bundle: TAP's own code says which.
        error = exc.code
    return respond(
        CredentialVerified(
            name=name,
            kind=credential.auth_type,
            check="token_refresh",
            ok=error is None,
            error=error,
        )
    )


@operation(
    blueprint,
    "DELETE",
    "/team/credentials/<name>",
    summary="Delete a credential, with its policy, role grants and approver assignments.",
    responses={200: Deleted},
    errors=(404, *SESSION_ERRORS),
    path_patterns=_NAME,
    permission="manage_credentials",
)
async def delete_credential(name: str, caller: Caller) -> Response:
    name = credential_name(name)
    async with db.transaction(runtime().pool) as conn:
        await credentials_store.delete(conn, caller.team_id, name)
        await team_changed(conn, caller.team_id)
    return respond(Deleted(name=name, deleted=True))
