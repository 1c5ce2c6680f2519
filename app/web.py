"""The Quart application factory.

``create_app(config, database_url)`` wires the worker's runtime into Quart's
serving hooks, registers the blueprints, and renders every error in one place:
an :class:`~app.errors.ApiError` becomes its JSON body, framework HTTP errors
and store errors are first translated into the API error they stand for, and
anything unexpected becomes a bare 500 that names only the request id.
"""

from __future__ import annotations

import logging
import time
import uuid
from email.utils import formatdate
from typing import Final

from quart import Quart, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from app.config import Config
from app.errors import (
    AlreadyExists,
    ApiError,
    CredentialValueRejected,
    DatabaseUnavailable,
    HeadersTooLarge,
    InvalidCredentialValue,
    InvalidInput,
    MalformedRequest,
    MethodNotAllowed,
    NameTaken,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    ResourceNotFound,
    RouteNotFound,
    ServiceUnavailable,
    StoreError,
    UnsupportedMediaType,
    ValidationFailed,
)
from app.runtime import open_runtime
from app.webstate import EXTENSION

logger = logging.getLogger("app.access")

MAX_REQUEST_BYTES: Final = 10 * 1024 * 1024


def create_app(config: Config, database_url: str) -> Quart:
    app = Quart("tap")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    # A request body must arrive within this many seconds in total (408 otherwise).
    app.config["BODY_TIMEOUT"] = config.request_read_timeout_secs
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.before_serving
    async def start() -> None:
        from app.approvals.executor import Executor
        from app.channels.current import HUB_EXTENSION
        from app.channels.hub import ChannelHub

        runtime = await open_runtime(config, database_url)
        await runtime.start_serving()
        executor = Executor(runtime)
        await executor.start()
        app.extensions[EXTENSION] = runtime
        app.extensions["tap.executor"] = executor
        channel_hub = ChannelHub(runtime)
        await channel_hub.start()
        app.extensions[HUB_EXTENSION] = channel_hub

    @app.after_serving
    async def stop() -> None:
        from app.channels.current import HUB_EXTENSION

        channel_hub = app.extensions.pop(HUB_EXTENSION, None)
        if channel_hub is not None:
            await channel_hub.stop()
        executor = app.extensions.pop("tap.executor", None)
        if executor is not None:
            await executor.stop()
        runtime = app.extensions.pop(EXTENSION, None)
        if runtime is not None:
            await runtime.close()

    _register_blueprints(app)
    _register_error_handlers(app)
    _register_access_log(app)
    return app


def _register_blueprints(app: Quart) -> None:
    from app.admin import register as register_admin
    from app.agent_api import blueprint as agent_api
    from app.attestation_endpoint import blueprint as attestation
    from app.channels.routes import register as register_channels
    from app.dashboard import blueprint as dashboard
    from app.dashboard.api_docs import blueprint as api_docs
    from app.dashboard.approve_page import blueprint as approve_page
    from app.health import blueprint as health
    from app.proxy.routes import blueprint as forward

    app.register_blueprint(health)
    app.register_blueprint(attestation)
    app.register_blueprint(forward)
    app.register_blueprint(agent_api)
    app.register_blueprint(dashboard)
    app.register_blueprint(api_docs)
    app.register_blueprint(approve_page)
    register_admin(app)
    register_channels(app)


# Framework errors, by status, as ours. Anything else the framework raises is a 400.
_HTTP_ERRORS: Final[dict[int, type[ApiError]]] = {
    400: MalformedRequest,
    404: RouteNotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    431: HeadersTooLarge,
}


def as_api_error(error: HTTPException | StoreError | InvalidInput) -> ApiError | None:
    """The API error a framework or store error stands for; ``None`` when it is our fault (a 500).

    NOTE: a store message names the object (``credential 'x' does not
    exist``), never a value, so it is safe to pass on.
    """
    if isinstance(error, HTTPException):
        status = error.code or 500
        if status >= 500:
            return None
        kind = _HTTP_ERRORS.get(status, MalformedRequest)
        return kind(error.description or kind.code)
    if isinstance(error, InvalidCredentialValue):
        return CredentialValueRejected(str(error), field=error.field)
    if isinstance(error, InvalidInput):
        return ValidationFailed(str(error), field=error.field)
    if isinstance(error, NotFound):
        return ResourceNotFound(str(error))
    if isinstance(error, AlreadyExists):
        return NameTaken(str(error))
    if isinstance(error, DatabaseUnavailable):
        return ServiceUnavailable("The database is unavailable.")
    return None


def _render(error: ApiError) -> Response:
    response = jsonify(error.to_json())
    response.status_code = error.status
    retry_after = error.extra.get("retry_after_secs")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _internal_error() -> Response:
    # NOTE: the exception text may carry request data; only the id goes out.
    logger.exception("request %s failed with an unexpected error", g.get("request_id"))
    response = jsonify(
        {"error": "internal_error", "message": "Internal error.", "request_id": g.get("request_id")}
    )
    response.status_code = 500
    return response


def _register_error_handlers(app: Quart) -> None:
    """One rendering for every refusal; a bare 500 naming the request id for everything else."""

    @app.errorhandler(ApiError)
    async def refused(error: ApiError) -> Response:
        return _render(error)

    @app.errorhandler(HTTPException)
    @app.errorhandler(StoreError)
    @app.errorhandler(InvalidInput)
    async def translated(error: HTTPException | StoreError | InvalidInput) -> Response:
        api_error = as_api_error(error)
        if api_error is None:
            return _internal_error()
        if isinstance(error, DatabaseUnavailable):
            logger.warning("request %s: database unavailable", g.get("request_id"))
        return _render(api_error)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        return _internal_error()


def _register_access_log(app: Quart) -> None:
    @app.before_request
    async def begin() -> None:
        g.request_id = str(uuid.uuid4())
        g.started = time.perf_counter()

    @app.after_request
    async def log_request(response: Response) -> Response:
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        response.headers["X-Request-Id"] = g.get("request_id", "")
        if "Date" not in response.headers:
            # Hypercorn's own Date is off so forwarded responses keep the upstream's.
            response.headers["Date"] = formatdate(usegmt=True)
        # NOTE: path only; query strings and headers may carry secrets.
        logger.info(
            "%s %s -> %d in %.1f ms (request %s)",
            request.method,
            request.path,
            response.status_code,
            elapsed_ms,
            g.get("request_id"),
        )
        return response
