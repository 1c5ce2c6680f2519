"""Values that must never be printed.

``Secret`` wraps credential values, keys and tokens. Its ``repr`` and ``str``
are masked so a secret that lands in a log line, a traceback or an f-string
shows as ``Secret('********')``. Only an explicit :meth:`Secret.reveal` reads
it, and that call belongs at the injection point or in crypto code.

``SecretPairs`` is the same idea for ``(name, value)`` pairs whose values may
be secret: outgoing headers after injection, the secret texts handed to the
sanitizer. It behaves as the tuple of pairs it is (libraries take it as a
header list, ``json.dumps`` takes it as an array), but prints names only.

Usage::

    headers = SecretPairs([("Authorization", "Bearer sk_live_...")])
    repr(headers)   # "SecretPairs(['Authorization'], values masked)"
    dict(headers)   # the real values, for the one place that sends them
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
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


class SecretPairs(tuple[tuple[str, str], ...]):
    """An immutable sequence of ``(name, value)`` pairs whose ``repr`` shows names only."""

    __slots__ = ()

    def __new__(cls, pairs: Iterable[tuple[str, str]] = ()) -> SecretPairs:
        return super().__new__(cls, ((str(name), str(value)) for name, value in pairs))

    def names(self) -> list[str]:
        """The names, in order (what is safe to show)."""
        return [name for name, _ in self]

    def __repr__(self) -> str:
        return f"SecretPairs({self.names()!r}, values masked)"

    def __str__(self) -> str:
        return repr(self)
