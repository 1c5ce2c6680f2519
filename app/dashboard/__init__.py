"""``GET /dashboard``: the human entry point.

Until the dashboard UI lands, this is a static page that tells a person where
things are (the admin API and its contract, the agent instructions, health)
instead of a bare 404.
"""

from __future__ import annotations

from importlib import resources

from quart import Blueprint, Response

blueprint = Blueprint("dashboard", __name__)


@blueprint.get("/dashboard")
async def dashboard() -> Response:
    page = resources.files("app.dashboard").joinpath("static/index.html").read_text()
    response = Response(page, content_type="text/html; charset=utf-8")
    # NOTE: a static page with no scripts; a strict policy costs nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["X-Frame-Options"] = "DENY"
    return response
