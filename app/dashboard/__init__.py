"""``GET /dashboard``: the web dashboard, a small client of the admin API.

The page is one static HTML shell plus ES modules and a stylesheet under
``static/dashboard/``, all served by TAP itself; there is no build step and
nothing is loaded from another origin. Everything the dashboard shows comes
from the admin API with the session the page holds (see the README's design
notes); the dashboard has no endpoint of its own.

Only files that exist under ``static/dashboard/`` when TAP starts can be
fetched: the allow-list is built once from that folder, so no request path
can steer a lookup elsewhere.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from typing import Final

from quart import Blueprint, Response

from app.dashboard.headers import harden
from app.errors import ResourceNotFound

blueprint = Blueprint("dashboard", __name__)

_CONTENT_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
#: Assets change only with a TAP release, but a deploy must show at once: revalidate.
_ASSET_CACHE: Final = "no-cache"


def _walk(folder: Traversable, prefix: str = "") -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in folder.iterdir():
        if entry.is_dir():
            found.update(_walk(entry, f"{prefix}{entry.name}/"))
        elif any(entry.name.endswith(suffix) for suffix in _CONTENT_TYPES):
            found[prefix + entry.name] = entry
    return found


_ROOT: Final = resources.files("app.dashboard").joinpath("static", "dashboard")
#: Only scripts, styles, images and text: the HTML shell is served at /dashboard alone.
ASSETS: Final = _walk(_ROOT)


@blueprint.get("/dashboard")
async def dashboard() -> Response:
    page = Response(
        _ROOT.joinpath("index.html").read_bytes(), content_type="text/html; charset=utf-8"
    )
    # NOTE: no-store: the address may carry a one-time invite token.
    page.headers["Cache-Control"] = "no-store"
    return harden(page)


@blueprint.get("/dashboard/assets/<path:name>")
async def asset(name: str) -> Response:
    file = ASSETS.get(name)
    if file is None:
        raise ResourceNotFound("no such asset")
    suffix = "." + name.rsplit(".", 1)[-1]
    response = Response(file.read_bytes(), content_type=_CONTENT_TYPES[suffix])
    response.headers["Cache-Control"] = _ASSET_CACHE
    return harden(response)
