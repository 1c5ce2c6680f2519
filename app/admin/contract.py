"""How an admin endpoint is declared, so that its route, its validation and its OpenAPI entry are one thing.

``@operation(bp, "POST", "/team/roles", body=RoleCreateBody, responses={201: RoleOut})``
registers the Quart route, records the operation for :mod:`app.admin.openapi`,
and before the handler runs:

1. for an ``authenticated`` operation (the default), resolves the session
   (:func:`app.admin.auth.authenticate`: 401 without a live one) and, if a
   ``permission`` is named, requires it (403); the handler receives the
   :class:`~app.admin.auth.Caller` as ``caller=``. No handler authenticates
   by hand, so no route can forget to;
2. parses the JSON body and query string into the declared models (the
   handler receives them as ``body=`` and ``query=``). A body is read by
   :mod:`app.json_body` (strict JSON, strict types); a body or query that
   does not validate is a 400 ``invalid_input`` listing the failing fields;
   the submitted values are never echoed, since they may be passwords.

An endpoint served in front of Quart (``POST /forward``) is documented with
:func:`document` and ``quart_view=False``; it may declare no session, body or
query model, since no view would enforce them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError
from quart import Blueprint, Response, jsonify, request

from app import json_body
from app.admin.auth import CAPABILITIES, authenticate
from app.errors import ResourceNotFound, ValidationFailed

Handler = Callable[..., Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)

# Errors every authenticated operation may answer with.
SESSION_ERRORS: Final = (401, 403)


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented endpoint."""

    method: str
    rule: str
    """The Quart rule, e.g. ``/team/credentials/<name>``."""
    summary: str
    tag: str
    responses: Mapping[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    authenticated: bool = True
    permission: str | None = None
    """The capability the caller's role must grant (:data:`app.admin.auth.CAPABILITIES`)."""
    errors: tuple[int, ...] = ()
    path_patterns: Mapping[str, str] = field(default_factory=dict)
    content_type: str | tuple[str, ...] = "application/json"
    """The success body's media type, or each one it may have (a choice the query makes)."""
    openapi: Mapping[str, Any] = field(default_factory=dict)
    """Parts of the OpenAPI entry a declaration cannot express (header parameters, a raw
    body, agent-key security); :mod:`app.admin.openapi` merges them into the generated entry."""
    quart_view: bool = True
    """Whether a Quart view serves it; ``False`` for an endpoint served in front of Quart."""

    @property
    def path(self) -> str:
        """The OpenAPI form of the rule: ``/team/credentials/{name}``."""
        return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", self.rule)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", self.rule)


OPERATIONS: list[Operation] = []


def _check_permission(rule: str, authenticated: bool, permission: str | None) -> None:
    """Raises TypeError for a permission that could never be granted or checked."""
    if permission is not None and not authenticated:
        raise TypeError(f"{rule}: a permission needs an authenticated operation")
    if permission is not None and not any(permission in caps for caps in CAPABILITIES.values()):
        raise TypeError(f"{rule}: unknown permission {permission!r}")


def document(
    tag: str,
    method: str,
    rule: str,
    *,
    summary: str,
    responses: Mapping[int, type[BaseModel] | None],
    authenticated: bool = True,
    permission: str | None = None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    path_patterns: Mapping[str, str] | None = None,
    content_type: str | tuple[str, ...] = "application/json",
    openapi: Mapping[str, Any] | None = None,
    quart_view: bool = True,
) -> Operation:
    """Record an operation for the OpenAPI document, and return it.

    :func:`operation` calls this for every Quart view it registers. An endpoint
    served outside Quart (``POST /forward``, :mod:`app.proxy.asgi_route`)
    declares itself here with ``quart_view=False``.

    Raises:
        TypeError: a permission without authentication, an unknown permission,
            or an endpoint outside Quart that declares a session, a body model
            or a query model (nothing there would enforce them).
    """
    _check_permission(rule, authenticated, permission)
    # NOTE: the session, body and query checks run in the Quart view; an
    # endpoint without one must not be documented as having them.
    if not quart_view and (authenticated or body is not None or query is not None):
        raise TypeError(f"{rule}: only a Quart view enforces a session, a body or a query model")
    op = Operation(
        method=method,
        rule=rule,
        summary=summary,
        tag=tag,
        responses=responses,
        body=body,
        query=query,
        authenticated=authenticated,
        permission=permission,
        errors=errors,
        path_patterns=path_patterns or {},
        content_type=content_type,
        openapi=openapi or {},
        quart_view=quart_view,
    )
    OPERATIONS.append(op)
    return op


def operation(
    bp: Blueprint,
    method: str,
    rule: str,
    *,
    summary: str,
    responses: Mapping[int, type[BaseModel] | None],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    authenticated: bool = True,
    permission: str | None = None,
    errors: tuple[int, ...] = (),
    path_patterns: Mapping[str, str] | None = None,
    content_type: str | tuple[str, ...] = "application/json",
    openapi: Mapping[str, Any] | None = None,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` under ``rule`` and document it. See the module docstring.

    Raises:
        TypeError: as :func:`document` says, at the declaration.
    """
    _check_permission(rule, authenticated, permission)

    def decorate(handler: Handler) -> Handler:
        # The session is checked for every authenticated operation; a handler
        # that does not name ``caller`` simply does not receive it.
        wants_caller = "caller" in inspect.signature(handler).parameters

        async def view(**path_values: str) -> Response:
            kwargs: dict[str, Any] = dict(path_values)
            if authenticated:
                caller = await authenticate()
                if permission is not None:
                    caller.require(permission)
                if wants_caller:
                    kwargs["caller"] = caller
            if body is not None:
                kwargs["body"] = await parse_body(body)
            if query is not None:
                kwargs["query"] = parse_query(query)
            return await handler(**kwargs)

        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        document(
            bp.name,
            method,
            rule,
            summary=summary,
            responses=responses,
            authenticated=authenticated,
            permission=permission,
            body=body,
            query=query,
            errors=errors,
            path_patterns=path_patterns,
            content_type=content_type,
            openapi=openapi,
        )
        bp.add_url_rule(rule, handler.__name__, view, methods=[method])
        return handler

    return decorate


async def parse_body(model: type[M]) -> M:
    """The request's JSON body as ``model``, strictly. Raises as :mod:`app.json_body` says."""
    return await json_body.read_model(model)


def parse_query(model: type[M]) -> M:
    """The query string as ``model``. Raises ValidationFailed.

    NOTE: a parameter given twice is refused rather than read one way here and
    another way by a proxy in front.
    """
    repeated = sorted(key for key in request.args if len(request.args.getlist(key)) > 1)
    if repeated:
        raise ValidationFailed(
            "the query string is invalid",
            problems=[{"field": key, "problem": "given more than once"} for key in repeated],
        )
    try:
        return model.model_validate({key: request.args.get(key) for key in request.args})
    except ValidationError as exc:
        raise ValidationFailed(
            "the query string is invalid", problems=json_body.problems(exc)
        ) from None


def respond(result: BaseModel, status: int = 200) -> Response:
    """Render a response model as JSON."""
    response = jsonify(result.model_dump(mode="json"))
    response.status_code = status
    return response


def path_value(raw: str, pattern: re.Pattern[str], what: str) -> str:
    """A path segment that must match ``pattern``; anything else cannot name an object (404)."""
    if not pattern.fullmatch(raw):
        raise ResourceNotFound(f"no such {what}")
    return raw
