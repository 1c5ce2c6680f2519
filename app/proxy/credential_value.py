"""A credential's revealed value, parsed once, and the rule for putting it in a header.

Both ways a secret reaches a header use this module: direct injection
(:mod:`app.proxy.inject`) and placeholder substitution
(:mod:`app.proxy.placeholders`). Keeping it apart lets each of them import it
without importing the other.

Usage::

    value = CredentialValue.parse(secret.reveal())
    value.fields            # {"username": "u", "password": "p"} for a JSON object
    repr(value)             # "CredentialValue(raw='********', fields=['password', 'username'])"
    unsafe_in_header("a\\r\\nX: y")   # True
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

_MASK: Final = "********"
_UNSAFE_HEADER_CHARS: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def unsafe_in_header(text: str) -> bool:
    """Whether ``text`` holds a control character (CR, LF, NUL, ...) that has no place in a header.

    NOTE: a CR/LF in a secret would split the header on the wire.
    """
    return _UNSAFE_HEADER_CHARS.search(text) is not None


@dataclass(frozen=True, slots=True, repr=False)
class CredentialValue:
    """A revealed value, split once into its raw text and its string fields.

    NOTE: it holds secret text, so its ``repr`` and ``str`` show field names only.
    """

    raw: str
    fields: Mapping[str, str] | None
    """String members when the value is a JSON object, else ``None``."""

    @classmethod
    def parse(cls, raw: str) -> CredentialValue:
        """Split ``raw``; a JSON object yields its string fields (never raises)."""
        fields: dict[str, str] | None = None
        if raw.lstrip().startswith("{"):
            try:
                loaded = json.loads(raw)
            except (ValueError, RecursionError):
                loaded = None
            if isinstance(loaded, dict):
                fields = {k: v for k, v in loaded.items() if isinstance(v, str)}
        return cls(raw=raw, fields=fields)

    @property
    def is_object(self) -> bool:
        """Whether the value is a JSON object (a multi-secret value)."""
        return self.fields is not None

    def __repr__(self) -> str:
        names = None if self.fields is None else sorted(self.fields)
        return f"CredentialValue(raw='{_MASK}', fields={names!r})"

    def __str__(self) -> str:
        return repr(self)
