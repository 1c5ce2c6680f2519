"""``GET /dev/auto-login``: a signed-in dashboard without typing a password, for local development only.

It exists only when ``DANGEROUS_TAP_DEV_SKIP_AUTH=true`` (refused at start-up
anywhere but a developer's machine, see :func:`app.config.check_dev_skip_auth`;
warned about on every start). It creates a real 24 h session for the first owner and
hands it to the dashboard in this tab's ``sessionStorage``, where the dashboard
keeps its session. It bypasses nothing else: every other endpoint still
requires that session. Otherwise it is a 404.

The page runs no inline script: the session is a JSON data block that the
dashboard's own ``devlogin.js`` reads, under the dashboard's policy.
"""

from __future__ import annotations

import json
import logging

from quart import Blueprint, Response

from app.admin.auth import start_session
from app.admin.contract import operation
from app.dashboard.headers import harden
from app.errors import ResourceNotFound
from app.store import db, members
from app.webstate import runtime

logger = logging.getLogger(__name__)

blueprint = Blueprint("devlogin", __name__)

#: Where the dashboard keeps its session (``static/dashboard/lib/api.js``).
STORAGE_KEY = "tap.session"


@operation(
    blueprint,
    "GET",
    "/dev/auto-login",
    summary="Local development only (DANGEROUS_TAP_DEV_SKIP_AUTH): sign in as the first owner.",
    responses={200: None, 503: None},
    authenticated=False,
    errors=(404,),
    content_type="text/html",
)
async def auto_login() -> Response:
    state = runtime()
    if not state.config.dev_skip_auth:
        raise ResourceNotFound("not found")
    async with db.transaction(state.pool) as conn:
        owner = await members.first_owner(conn)
        if owner is None:
            return Response(
                "No owner exists yet: sign up first.", status=503, content_type="text/plain"
            )
        token, _ = await start_session(
            conn, user_id=owner.user_id, team_id=owner.team_id, scope="full"
        )
    logger.warning(
        "DANGEROUS_TAP_DEV_SKIP_AUTH: auto-login issued a session for user %s", owner.user_id
    )
    session = {
        "token": token,
        "admin_id": owner.user_id,
        "team_id": owner.team_id,
        "email": owner.email,
        "team_name": owner.team_name,
    }
    # NOTE: escape "<" so no value can close the data block.
    data = json.dumps(session).replace("<", "\\u003c")
    html = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>TAP dev login</title>"
        f'<script type="application/json" id="tap-dev-session" data-storage-key="{STORAGE_KEY}">'
        f"{data}</script>"
        '<script type="module" src="/dashboard/assets/devlogin.js"></script>'
        "<p>Signing you in…</p></html>"
    )
    response = Response(html, status=200, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return harden(response)
