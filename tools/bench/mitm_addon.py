"""mitmproxy addon for the benchmark: add a static ``Authorization`` header to every request.

Loaded by ``mitmdump -s`` in its own virtualenv, so it imports nothing of
ours and nothing from mitmproxy: the hook only touches the flow it is given.
The header value comes from ``BENCH_INJECT_AUTHORIZATION``.
"""

from __future__ import annotations

import os
from typing import Any

_AUTHORIZATION = os.environ.get("BENCH_INJECT_AUTHORIZATION", "Bearer bench")


def request(flow: Any) -> None:
    """mitmproxy's ``request`` hook: the full request has been read."""
    flow.request.headers["Authorization"] = _AUTHORIZATION
