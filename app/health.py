"""``GET /health``: liveness plus build identity, without auth.

Answers 200 ``{"status": "ok", "build": {...}}`` while the database answers,
503 ``{"status": "unavailable", ...}`` when it does not. The build sha is what
attestation tooling matches against the measurement log.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Final

from quart import Blueprint, current_app

from app.errors import StoreError
from app.store import db
from app.webstate import runtime

blueprint = Blueprint("health", __name__)

DB_PING_TIMEOUT_SECS: Final = 2.0


def build_info() -> dict[str, str]:
    try:
        version = metadata.version("tap-proxy")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"version": version, "sha": runtime().config.build_sha}


@blueprint.get("/health")
async def health() -> tuple[dict[str, Any], int]:
    build = build_info()
    try:
        await db.ping(runtime().pool, DB_PING_TIMEOUT_SECS)
    except StoreError:  # DatabaseUnavailable or any other store failure: "unavailable"
        current_app.logger.warning("health check: database unreachable")
        return {"status": "unavailable", "database": "unreachable", "build": build}, 503
    return {"status": "ok", "build": build}, 200
