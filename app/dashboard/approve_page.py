"""``GET /approve/txn/{id}``: the page a person opens from an approval link.

A static page and two static assets; everything it shows comes from the
approve API (:mod:`app.admin.approve`) with the session the page itself
obtains. NOTE: no inline script and a policy that allows only this origin's
own script, style and API calls; the page can never be framed.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from quart import Blueprint, Response

from app.dashboard.headers import harden
from app.errors import ResourceNotFound

blueprint = Blueprint("approve_page", __name__)

_ASSETS: Final = {
    "approve.js": "text/javascript; charset=utf-8",
    "approve.css": "text/css; charset=utf-8",
}


def _static(name: str, content_type: str) -> Response:
    text = resources.files("app.dashboard").joinpath(f"static/{name}").read_text()
    return harden(Response(text, content_type=content_type))


@blueprint.get("/approve/txn/<txn_id>")
async def approve_page(txn_id: str) -> Response:
    del txn_id  # the script reads it from the address; nothing is rendered from it
    response = _static("approve.html", "text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/approve/assets/<name>")
async def asset(name: str) -> Response:
    content_type = _ASSETS.get(name)
    if content_type is None:
        raise ResourceNotFound("no such asset")
    return _static(name, content_type)
