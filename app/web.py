"""The Quart application factory.

``create_app(config, database_url)`` wires the worker's runtime into Quart's
serving hooks, registers the blueprints, puts the ``POST /forward`` route in
front of the app (:mod:`app.proxy.asgi_route`), and renders every error the
one way :func:`app.answers.answer_for` says: an :class:`~app.errors.ApiError`
becomes its JSON body, framework HTTP errors and store errors are first
translated into the API error they stand for, and anything unexpected becomes
a bare 500 that names only the request id.
"""

from __future__ import annotations

import time
import uuid
from typing import Final

from quart import Quart, Response, g, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from app.answers import Answer, answer_for, http_date, log_access
from app.config import Config
from app.errors import ApiError, InvalidInput, StoreError
from app.proxy.asgi_route import ForwardRoute
from app.runtime import open_runtime
from app.webstate import EXTENSION

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
    # POST /forward skips the framework (app.proxy.asgi_route); every other request is Quart's.
    app.asgi_app = ForwardRoute(app, app.asgi_app)  # type: ignore[method-assign]
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

    app.register_blueprint(health)
    app.register_blueprint(attestation)
    app.register_blueprint(agent_api)
    app.register_blueprint(dashboard)
    app.register_blueprint(api_docs)
    app.register_blueprint(approve_page)
    register_admin(app)
    register_channels(app)


def _response(answer: Answer) -> Response:
    assert isinstance(answer.body, bytes)
    return Response(answer.body, status=answer.status, headers=Headers(answer.headers))


def _register_error_handlers(app: Quart) -> None:
    """One rendering for every refusal (:func:`app.answers.answer_for`), on this path as on /forward."""

    @app.errorhandler(ApiError)
    @app.errorhandler(HTTPException)
    @app.errorhandler(StoreError)
    @app.errorhandler(InvalidInput)
    @app.errorhandler(Exception)
    async def refused(error: Exception) -> Response:
        return _response(answer_for(error, g.get("request_id")))


def _register_access_log(app: Quart) -> None:
    @app.before_request
    async def begin() -> None:
        g.request_id = str(uuid.uuid4())
        g.started = time.perf_counter()

    @app.after_request
    async def log_request(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        if "Date" not in response.headers:
            # Hypercorn's own Date is off so forwarded responses keep the upstream's.
            response.headers["Date"] = http_date()
        log_access(
            request.method,
            request.path,
            response.status_code,
            g.get("started", time.perf_counter()),
            g.get("request_id"),
        )
        return response
