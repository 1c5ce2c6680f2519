"""The admin API's brute-force bounds, and the two calls that enforce them.

Call :func:`refuse_if_blocked` before the guarded check and :func:`count_failure`
after a failed one. The counters live in Postgres (:mod:`app.store.throttle`).
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from app.errors import TooManyAttempts
from app.store import db, throttle
from app.store.throttle import Bound
from app.webstate import runtime

LOGIN_PER_ACCOUNT: Final = Bound(limit=10, window=dt.timedelta(minutes=15))
"""Failed logins per email address."""
LOGIN_PER_ADDRESS: Final = Bound(limit=50, window=dt.timedelta(minutes=15))
"""Failed logins per client address (higher: one address may be a whole office)."""
GUESSES_PER_ADDRESS: Final = Bound(limit=20, window=dt.timedelta(minutes=15))
"""Wrong emailed codes or invite tokens per client address."""

Check = tuple[str, Bound]


async def refuse_if_blocked(*checks: Check) -> None:
    """Raises TooManyAttempts (with ``retry_after_secs``) if any key is over its bound."""
    pool = runtime().pool
    with db.translate_errors():
        for key, bound in checks:
            retry = await throttle.blocked(pool, key, bound)
            if retry is not None:
                raise TooManyAttempts(
                    "too many failed attempts; try again later", retry_after_secs=retry
                )


async def count_failure(*checks: Check) -> None:
    pool = runtime().pool
    with db.translate_errors():
        for key, bound in checks:
            await throttle.record(pool, key, bound)
