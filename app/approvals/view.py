"""What an approver is shown of a parked request: all of what will be sent, safely.

A human deciding must see what the upstream will receive, not a guess: every
header that goes upstream (credential-bearing values masked, the headers TAP
will inject named as such), the body's size and SHA-256, a preview that says
whether it is cut, binary bodies rendered as base64 rather than dropped, and a
warning for headers that ask the upstream to change the method.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from app.audit import mask_headers

PREVIEW_BYTES: Final = 4096
"""How much of a body an approver sees inline; the size and hash cover the rest."""

METHOD_OVERRIDE_HEADERS: Final = frozenset(
    {"x-http-method-override", "x-http-method", "x-method-override"}
)

# Text that could mislead a human reading it: control characters (other than
# tab and newlines) and bidirectional overrides. Such a body is shown as base64.
_UNSAFE_TEXT: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class BodyView:
    size: int
    sha256: str
    """Hex SHA-256 of the whole body: what the decision is about."""
    preview: str | None
    """The first :data:`PREVIEW_BYTES`; None only for an empty body."""
    encoding: Literal["utf-8", "base64"] | None
    truncated: bool


@dataclass(frozen=True, slots=True)
class ApprovalWarning:
    code: str
    message: str


def body_view(head: bytes | None, *, size: int, sha256: str) -> BodyView:
    """Render the first bytes of a body: text when it is safe to read, base64 otherwise."""
    head = (head or b"")[:PREVIEW_BYTES]
    truncated = size > len(head)
    if not head:
        return BodyView(size, sha256, None, None, truncated)
    try:
        # A cut may split a character; only the cut end may be incomplete.
        text = head.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        text = None
        if truncated and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            text = head[: exc.start].decode("utf-8")
    if text is not None and not _UNSAFE_TEXT.search(text):
        return BodyView(size, sha256, text, "utf-8", truncated)
    return BodyView(size, sha256, base64.b64encode(head).decode("ascii"), "base64", truncated)


def upstream_headers(
    headers: Sequence[tuple[str, str]], injected: Sequence[str], credential: str
) -> list[tuple[str, str]]:
    """Every header that will go upstream, in order, with secrets masked.

    ``injected`` names the headers the credential renders (unified mode): the
    agent's copies of them are dropped, as injection does, and each appears
    with a note instead of its value.
    """
    replaced = {name.lower() for name in injected}
    kept = [(name, value) for name, value in headers if name.lower() not in replaced]
    return mask_headers(kept) + [
        (name, f"[set by TAP from credential {credential}]") for name in injected
    ]


def warnings(method: str, headers: Sequence[tuple[str, str]]) -> list[ApprovalWarning]:
    """What deserves a second look before approving."""
    found: list[ApprovalWarning] = []
    for name, value in headers:
        if name.lower() in METHOD_OVERRIDE_HEADERS:
            found.append(
                ApprovalWarning(
                    "method_override",
                    f"{name}: {value[:64]} may make the upstream treat this {method} as"
                    f" {value.strip().upper()[:16] or 'another method'}.",
                )
            )
    return found
