"""A string that must never be printed.

``Secret`` wraps credential values, keys and tokens. Its ``repr`` and ``str``
are masked so a secret that lands in a log line, a traceback or an f-string
shows as ``Secret('********')``. Only an explicit :meth:`Secret.reveal` reads
it, and that call belongs at the injection point or in crypto code.
"""

from __future__ import annotations

import hmac
from typing import Final

_MASK: Final = "********"


class Secret:
    """A masked string value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret text. Call only where the value is needed."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        # NOTE: constant-time, so equality checks never leak a prefix.
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)
