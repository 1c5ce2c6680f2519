"""Access to the worker's :class:`~app.runtime.Runtime` from request code."""

from __future__ import annotations

from typing import Final

from quart import current_app

from app.runtime import Runtime

EXTENSION: Final = "tap"


def runtime() -> Runtime:
    """The runtime of the app serving this request. Set in ``before_serving``."""
    state: Runtime = current_app.extensions[EXTENSION]
    return state
