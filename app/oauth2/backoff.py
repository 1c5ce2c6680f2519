"""Back-off after a refused or failed token refresh, per credential and stored value.

Without it every request for a credential whose grant was revoked asks the
token endpoint again: an agent retrying in a loop becomes a flood of refresh
attempts with a dead refresh token, which authorization servers answer by
locking the client out. After a failure, requests for the same credential
*with the same stored value* get the same 502 at once, with ``retry_after_secs``,
for :data:`FIRST_DELAY_SECS`, doubling with each further failure up to
:data:`MAX_DELAY_SECS`.

A new value (a human re-authorized the credential) ends the back-off at once,
as does any successful refresh; the admin's verify always asks the endpoint.
The state is the worker's own: each worker backs off on its own, which bounds
the endpoint's load to one attempt per worker per interval.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Final

from app.errors import OAuthRefreshFailed

FIRST_DELAY_SECS: Final = 10.0
MAX_DELAY_SECS: Final = 300.0

Key = tuple[str, str]
"""(team id, credential name)."""


@dataclass(frozen=True, slots=True)
class _Failure:
    value_digest: bytes
    error: OAuthRefreshFailed
    failures: int
    until: float
    """``time.monotonic()`` when the endpoint may be asked again."""


class RefreshBackoff:
    """Failed refreshes by credential; see the module docstring."""

    def __init__(self) -> None:
        self._failed: dict[Key, _Failure] = {}

    def check(self, key: Key, value_digest: bytes) -> None:
        """Raise the last failure again while its back-off runs for this same value."""
        failure = self._failed.get(key)
        if failure is None or failure.value_digest != value_digest:
            return
        left = failure.until - time.monotonic()
        if left <= 0:
            return
        raise OAuthRefreshFailed(
            failure.error.message, **failure.error.extra, retry_after_secs=math.ceil(left)
        )

    def failed(self, key: Key, value_digest: bytes, error: OAuthRefreshFailed) -> None:
        previous = self._failed.get(key)
        failures = 1
        if previous is not None and previous.value_digest == value_digest:
            failures = previous.failures + 1
        delay = min(FIRST_DELAY_SECS * 2 ** (failures - 1), MAX_DELAY_SECS)
        self._failed[key] = _Failure(value_digest, error, failures, time.monotonic() + delay)

    def succeeded(self, key: Key) -> None:
        self._failed.pop(key, None)
