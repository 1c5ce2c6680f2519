"""``GET /dashboard-sw.js``: the service worker that shows approval notifications.

Served at the root so its scope is the whole origin; a click on a
notification focuses or opens the approve page named in the payload.
"""

from __future__ import annotations

from importlib import resources

from quart import Blueprint, Response

blueprint = Blueprint("push_worker", __name__)


@blueprint.get("/dashboard-sw.js")
async def service_worker() -> Response:
    script = resources.files("app.channels.push").joinpath("dashboard-sw.js").read_text()
    response = Response(script, content_type="application/javascript; charset=utf-8")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response
