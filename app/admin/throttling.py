"""The admin API's brute-force bounds, and the two calls that enforce them.

Call :func:`refuse_if_blocked` before the guarded check and :func:`count_failure`
after a failed one (:func:`count_attempt`). The counters live in Postgres (:mod:`app.store.throttle`).

NOTE: slow the attacker, not the victim. Login failures are counted per
(account, client address), so guesses from one address never lock the account
for its owner elsewhere; the per-account ceiling is far above what one address
may spend (:data:`LOGIN_PER_ACCOUNT_ADDRESS`), so reaching it takes many
addresses at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from app.errors import TooManyAttempts
from app.store import db, throttle
from app.store.throttle import Bound
from app.webstate import runtime

LOGIN_PER_ACCOUNT_ADDRESS: Final = Bound(limit=10, window=dt.timedelta(minutes=15))
"""Failed logins per email address from one client address."""
LOGIN_PER_ACCOUNT: Final = Bound(limit=100, window=dt.timedelta(minutes=15))
"""Failed logins per email address from all addresses together (a distributed-guessing ceiling)."""
LOGIN_PER_ADDRESS: Final = Bound(limit=50, window=dt.timedelta(minutes=15))
"""Failed logins per client address (higher: one address may be a whole office)."""
GUESSES_PER_ADDRESS: Final = Bound(limit=20, window=dt.timedelta(minutes=15))
"""Wrong emailed codes or invite tokens per client address."""
CODE_GUESSES_PER_ACCOUNT: Final = Bound(limit=20, window=dt.timedelta(days=1))
"""Wrong emailed codes per account and purpose per day, whatever the addresses and fresh codes."""
SIGNUPS_PER_ADDRESS: Final = Bound(limit=30, window=dt.timedelta(hours=1))
"""Sign-ups per client address (counted on every attempt that reaches the password hash)."""

Check = tuple[str, Bound]


def login_checks(email: str, address: str) -> tuple[Check, Check, Check]:
    """The three login counters of ``email`` tried from ``address``."""
    return (
        (f"login-account-address:{email}|{address}", LOGIN_PER_ACCOUNT_ADDRESS),
        (f"login-account:{email}", LOGIN_PER_ACCOUNT),
        (f"login-address:{address}", LOGIN_PER_ADDRESS),
    )


def code_checks(purpose: str, email: str, address: str) -> tuple[Check, Check]:
    """The counters of wrong emailed codes for ``purpose``: per client address, and per account per day."""
    return (
        (f"code-address:{address}", GUESSES_PER_ADDRESS),
        (f"code-account:{purpose}:{email}", CODE_GUESSES_PER_ACCOUNT),
    )


async def refuse_if_blocked(*checks: Check) -> None:
    """Raises TooManyAttempts (with ``retry_after_secs``) if any key is over its bound."""
    async with db.connection(runtime().pool) as conn:
        for key, bound in checks:
            retry = await throttle.blocked(conn, key, bound)
            if retry is not None:
                raise TooManyAttempts(
                    "too many failed attempts; try again later", retry_after_secs=retry
                )


async def count_attempt(*checks: Check) -> None:
    """Count one attempt (a failure, or any sign-up) against every key. Raises DatabaseUnavailable."""
    async with db.connection(runtime().pool) as conn:
        for key, bound in checks:
            await throttle.record(conn, key, bound)
