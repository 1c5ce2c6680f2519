"""``GET /docs``: an API explorer (Swagger UI) that renders ``/openapi.json``.

Swagger UI is vendored under ``static/swagger-ui/`` (version, source and
licence in its ``VENDORED.md``) and served by TAP itself, so the page loads
nothing from another origin. Only the files listed in :data:`ASSETS` can be
fetched; there is no path lookup a request could steer.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from quart import Blueprint, Response, abort

from app.dashboard.headers import harden

blueprint = Blueprint("api_docs", __name__)

#: NOTE: no inline script or style, no other origin. ``data:`` images are the
#: icons inside swagger-ui.css; ``connect-src 'self'`` lets the page read
#: /openapi.json and "Try it out" call this TAP only.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

#: name under /docs/assets/ -> (file under static/, content type)
ASSETS: Final = {
    "swagger-ui-bundle.js": ("swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("swagger-ui/swagger-ui.css", "text/css; charset=utf-8"),
    "LICENSE": ("swagger-ui/LICENSE", "text/plain; charset=utf-8"),
    "NOTICE": ("swagger-ui/NOTICE", "text/plain; charset=utf-8"),
    "swagger-ui-bundle.js.LICENSE.txt": (
        "swagger-ui/swagger-ui-bundle.js.LICENSE.txt",
        "text/plain; charset=utf-8",
    ),
    "docs.js": ("docs.js", "text/javascript; charset=utf-8"),
}
#: Assets change only with a TAP release; a day of caching is plenty.
ASSET_MAX_AGE_SECS: Final = 24 * 3600


def _static(name: str) -> bytes:
    return resources.files("app.dashboard").joinpath("static", *name.split("/")).read_bytes()


def _harden(response: Response) -> Response:
    return harden(response, CSP)


@blueprint.get("/docs")
async def explorer() -> Response:
    page = Response(_static("docs.html"), content_type="text/html; charset=utf-8")
    page.headers["Cache-Control"] = "no-cache"
    return _harden(page)


@blueprint.get("/docs/assets/<name>")
async def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)  # rendered as the JSON not_found body like every unknown path
    path, content_type = ASSETS[name]
    response = Response(_static(path), content_type=content_type)
    response.headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE_SECS}"
    return _harden(response)
