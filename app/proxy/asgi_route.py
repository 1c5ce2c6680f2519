"""``POST /forward`` as a plain ASGI route in front of the Quart app.

``create_app`` wraps the app's ``asgi_app`` in :class:`ForwardRoute`
(``app.asgi_app = ForwardRoute(app, app.asgi_app)``), so every server and
Quart's test client go through it. A request for ``/forward`` (spelled as
Quart's router would match it) is served here; lifespan, websockets and every
other path go to Quart unchanged. The hot path so skips what it never needed:
the app and request contexts, routing, the hooks, werkzeug's header and
response objects, and the two tasks per request Quart's ASGI layer starts.

What the agent sees is what the Quart view answered, step for step:

1. a method other than POST is a 405 ``method_not_allowed``;
2. before start-up finished (or after shutdown) the answer is a 503;
3. the body is read under the same limits as Quart's: a declared
   ``Content-Length`` over :data:`~app.web.MAX_REQUEST_BYTES` is a 413 before
   any of it is read, a chunked body is a 413 as soon as it passes the cap
   (never read whole into memory), and a body that does not arrive within the
   app's ``BODY_TIMEOUT`` is a 408;
4. :func:`app.proxy.routes.forward` runs the pipeline; a refusal or an
   unexpected error is rendered by :func:`app.answers.answer_for`;
5. the answer gets ``X-Request-Id``, a ``Date`` only when the upstream sent
   none, a default ``Content-Type`` as Quart's response class gives one, and
   one access-log line;
6. a whole body goes out as one message within the app's
   ``RESPONSE_TIMEOUT``; a streamed body is relayed without one and closed
   however it ends.

A client that goes away before its answer is sent cancels the work, as it did
under Quart: nothing is answered or logged, and the handler's ``finally``
(the audit) still runs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Final
from urllib.parse import urlparse

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Scope,
)
from quart import Quart
from werkzeug import exceptions as http_errors

from app.answers import Answer, answer_for, error_answer, http_date, log_access
from app.errors import MethodNotAllowed, PayloadTooLarge, RequestTimeout, ServiceUnavailable
from app.proxy import routes
from app.runtime import Runtime
from app.secret import SecretPairs
from app.webstate import EXTENSION

PATH: Final = "/forward"
# The messages Quart's refusals carry, so the answers read as they did.
_WRONG_METHOD: Final = str(http_errors.MethodNotAllowed.description)
_TOO_LARGE: Final = str(http_errors.RequestEntityTooLarge.description)
_TOO_SLOW: Final = str(http_errors.RequestTimeout.description)
# What Quart's response class says of a body whose upstream named no type.
_DEFAULT_CONTENT_TYPE: Final = b"text/html; charset=utf-8"


def _is_forward(scope: HTTPScope) -> bool:
    """Whether Quart's router would have sent this request to ``/forward``.

    It strips leading slashes (``//forward`` is ``/forward``), reads an
    absolute-form target's path, and removes a ``root_path`` prefix; nothing
    else is the same route (``/forward/`` and ``/Forward`` are 404s).
    """
    path = scope["path"]
    root_path = scope.get("root_path", "")
    if path == PATH and not root_path:
        return True
    if path[:1] != "/":
        path = urlparse(path).path
    if root_path:
        if path == root_path or not path.startswith(root_path):
            return False
        path = path.removeprefix(root_path)
    return path.lstrip("/") == PATH[1:]


class _ClientGone(Exception):
    """The client disconnected before its request body was complete."""


class ForwardRoute:
    """ASGI middleware: ``POST /forward`` is answered here, everything else by ``app``."""

    def __init__(self, app: Quart, inner: ASGIFramework) -> None:
        self._app = app
        self._inner = inner

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http" and _is_forward(scope):
            await self._serve(scope, receive, send)
        else:
            await self._inner(scope, receive, send)

    async def _serve(
        self, scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        started = time.perf_counter()
        request_id = uuid.uuid4()
        request_text = str(request_id)
        config = self._app.config
        # (1) and (2): refused before the body is read, as Quart's routing and the view did.
        runtime: Runtime | None = self._app.extensions.get(EXTENSION)
        if scope["method"] != "POST":
            answer = error_answer(MethodNotAllowed(_WRONG_METHOD))
        elif runtime is None:
            answer = error_answer(ServiceUnavailable("TAP is not serving yet; retry shortly."))
        else:
            headers, declared = _request_headers(scope)
            try:
                body = await _read_body(
                    receive, declared, config["MAX_CONTENT_LENGTH"], config["BODY_TIMEOUT"]
                )
            except _ClientGone:
                return
            except (PayloadTooLarge, RequestTimeout) as refused:
                answer = error_answer(refused)
            else:
                await self._forward(
                    scope, receive, send, runtime, request_id, headers, body, started
                )
                return
        await _respond(scope, send, answer, request_text, started, config["RESPONSE_TIMEOUT"])

    async def _forward(
        self,
        scope: HTTPScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        runtime: Runtime,
        request_id: uuid.UUID,
        headers: SecretPairs,
        body: bytes,
        started: float,
    ) -> None:
        # (4) to (6), while a watcher cancels the work if the client goes away.
        task = asyncio.current_task()
        assert task is not None
        watcher = _DisconnectWatcher(receive, task)
        request_text = str(request_id)
        try:
            try:
                answer = await routes.forward(runtime, request_id, headers, body)
            except Exception as error:
                answer = answer_for(error, request_text)
            await _respond(
                scope,
                send,
                answer,
                request_text,
                started,
                self._app.config["RESPONSE_TIMEOUT"],
                watcher,
            )
        except asyncio.CancelledError:
            # Only our own cancellation ends quietly; the server's goes on up.
            if not watcher.cancelled_task or task.uncancel() > 0:
                raise
        finally:
            watcher.stop()


class _DisconnectWatcher:
    """Cancels the request's task when the client disconnects before its answer is sent.

    Quart's ASGI layer did the same with a receiver task beside the handler's;
    here the handler runs in the server's own task and only the watcher is one.
    """

    def __init__(self, receive: ASGIReceiveCallable, task: asyncio.Task[Any]) -> None:
        self._task = task
        self.answered = False
        """Set when the last message of the answer is being sent: nothing is left to cut."""
        self.cancelled_task = False
        self._watch = asyncio.ensure_future(self._run(receive))

    async def _run(self, receive: ASGIReceiveCallable) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self.answered:
                    self.cancelled_task = True
                    self._task.cancel()
                return

    def stop(self) -> None:
        self._watch.cancel()


def _request_headers(scope: HTTPScope) -> tuple[SecretPairs, int | None]:
    """The request's headers as Quart presented them, and the body length it declares.

    Names are title-cased and both sides read as Latin-1, as in Quart's
    request. The length follows werkzeug: none when the body is chunked or
    the header is absent, 0 when it is not a number.
    """
    pairs: list[tuple[str, str]] = []
    length: str | None = None
    chunked = False
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin1")
        value = raw_value.decode("latin1")
        lower = name.lower()
        if lower == "content-length" and length is None:
            length = value
        elif lower == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        pairs.append((name.title(), value))
    declared: int | None = None
    if length is not None and not chunked:
        text = length.strip()
        declared = max(0, int(text)) if text.isascii() and text.isdigit() else 0
    return SecretPairs(pairs), declared


async def _read_body(
    receive: ASGIReceiveCallable, declared: int | None, limit: int, timeout_secs: float
) -> bytes:
    """The whole request body, read under the cap and within the deadline.

    Raises:
        PayloadTooLarge: the declared length or the bytes received pass ``limit``.
        RequestTimeout: the body did not arrive within ``timeout_secs``.
        _ClientGone: the client disconnected first.
    """
    if declared is not None and declared > limit:
        raise PayloadTooLarge(_TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_secs):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _ClientGone
                if message["type"] != "http.request":
                    continue
                chunk: bytes = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(_TOO_LARGE)
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise RequestTimeout(_TOO_SLOW) from None
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


def _response_headers(answer: Answer, request_id: str) -> list[tuple[bytes, bytes]]:
    """The answer's headers on the wire, with what every answer of TAP carries."""
    headers: list[tuple[bytes, bytes]] = []
    has_type = has_date = False
    for name, value in answer.headers:
        lower = name.lower()
        # Ours replace the upstream's, as the framework's header map did.
        if lower in ("content-length", "x-request-id"):
            continue
        if lower == "content-type":
            has_type = True
        elif lower == "date":
            has_date = True
        headers.append((lower.encode(), value.encode()))
    if not has_type:
        headers.append((b"content-type", _DEFAULT_CONTENT_TYPE))
    if isinstance(answer.body, bytes):
        headers.append((b"content-length", str(len(answer.body)).encode()))
    headers.append((b"x-request-id", request_id.encode()))
    if not has_date:
        # The server's own Date is off so forwarded answers keep the upstream's.
        headers.append((b"date", http_date().encode()))
    return headers


async def _respond(
    scope: HTTPScope,
    send: ASGISendCallable,
    answer: Answer,
    request_id: str,
    started: float,
    timeout_secs: float | None,
    watcher: _DisconnectWatcher | None = None,
) -> None:
    """ASGISendCallable ``answer``: a whole body in one message under a deadline, a stream as it comes."""
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": answer.status,
        "headers": _response_headers(answer, request_id),
    }
    log_access(scope["method"], scope["path"], answer.status, started, request_id)
    body = answer.body
    if isinstance(body, bytes):
        try:
            async with asyncio.timeout(timeout_secs):
                await send(start)
                if watcher is not None:
                    watcher.answered = True
                await send(_body(body, more=False))
        except TimeoutError:
            # As under Quart: a client too slow to take its answer loses the rest of it.
            pass
        return
    try:
        await send(start)
        async for chunk in body:
            await send(_body(chunk, more=True))
        if watcher is not None:
            watcher.answered = True
        await send(_body(b"", more=False))
    finally:
        await body.aclose()


def _body(chunk: bytes, *, more: bool) -> HTTPResponseBodyEvent:
    return {"type": "http.response.body", "body": chunk, "more_body": more}
