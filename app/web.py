"""The Quart application factory.

``create_app(config, database_url)`` wires the worker's runtime into Quart's
serving hooks, registers the blueprints, and renders every error in one place:
a :class:`~app.errors.ProxyError` becomes its JSON body, framework HTTP errors
become JSON with a stable code, and anything unexpected becomes a bare 500
that names only the request id.
"""

from __future__ import annotations

import logging
import time
import uuid
from email.utils import formatdate
from typing import Any, Final

from quart import Quart, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from app.config import Config
from app.errors import (
    AdminError,
    AlreadyExists,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    ProxyError,
    ServiceUnavailable,
    StoreError,
)
from app.runtime import open_runtime
from app.webstate import EXTENSION

logger = logging.getLogger("app.access")

MAX_REQUEST_BYTES: Final = 10 * 1024 * 1024

# Framework errors, by status, as stable codes.
_HTTP_CODES: Final = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    431: "headers_too_large",
}


def create_app(config: Config, database_url: str) -> Quart:
    app = Quart("tap")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.before_serving
    async def start() -> None:
        from app.approvals.executor import Executor

        runtime = await open_runtime(config, database_url)
        await runtime.start_serving()
        executor = Executor(runtime)
        await executor.start()
        app.extensions[EXTENSION] = runtime
        app.extensions["tap.executor"] = executor

    @app.after_serving
    async def stop() -> None:
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


def _error_response(status: int, body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _register_error_handlers(app: Quart) -> None:
    @app.errorhandler(ProxyError)
    async def proxy_error(error: ProxyError) -> Response:
        response = _error_response(error.status, error.to_json())
        retry_after = error.extra.get("retry_after_secs")
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(AdminError)
    async def admin_error(error: AdminError) -> Response:
        response = _error_response(error.status, error.to_json())
        retry_after = error.extra.get("retry_after_secs")
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(InvalidInput)
    async def invalid_input(error: InvalidInput) -> Response:
        return _error_response(400, {"error": "invalid_input", "message": str(error), "field": error.field})

    @app.errorhandler(NotFound)
    async def not_found(error: NotFound) -> Response:
        return _error_response(404, {"error": "not_found", "message": str(error)})

    @app.errorhandler(AlreadyExists)
    async def already_exists(error: AlreadyExists) -> Response:
        return _error_response(409, {"error": "already_exists", "message": str(error)})

    @app.errorhandler(DatabaseUnavailable)
    async def database_unavailable(error: DatabaseUnavailable) -> Response:
        logger.warning("request %s: database unavailable", g.get("request_id"))
        return _error_response(503, ServiceUnavailable("The database is unavailable.").to_json())

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        return _error_response(status, {"error": code, "message": error.description or code})

    @app.errorhandler(StoreError)
    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        # NOTE: the exception text may carry request data; only the id goes out.
        logger.exception("request %s failed with an unexpected error", g.get("request_id"))
        return _error_response(
            500, {"error": "internal_error", "message": "Internal error.", "request_id": g.get("request_id")}
        )


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
