"""The channel hub of the app serving this request, set by :mod:`app.web` at start-up.

A module of its own so that route modules reach the hub without importing
:mod:`app.channels.hub`, which imports the registry that lists those routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from quart import current_app

if TYPE_CHECKING:
    from app.channels.hub import ChannelHub

HUB_EXTENSION: Final = "tap.channels"


def hub() -> ChannelHub:
    """The hub of the app serving this request. Set in ``before_serving``."""
    found: ChannelHub = current_app.extensions[HUB_EXTENSION]
    return found
