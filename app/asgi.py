"""The ASGI entry point that each Hypercorn worker imports (``app.asgi:app``).

``tap-proxy`` resolves the database and checks custody in the parent process,
then exports the resolved database URL in ``TAP_RESOLVED_DATABASE_URL`` for the
workers, so they never start a second embedded server.
"""

from __future__ import annotations

import os

from app.config import Config
from app.logs import configure_logging
from app.web import create_app

_config = Config.from_env(os.environ)
configure_logging(_config.log_level)
_database_url = os.environ.get("TAP_RESOLVED_DATABASE_URL") or (
    _config.database_url.reveal() if _config.database_url else ""
)
app = create_app(_config, _database_url)
