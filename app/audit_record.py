"""What one audit record is, and how it is shown.

A record keeps the request's headers and body as *bytes*, exactly as TAP
received them (cut at 16 KiB), so no byte an agent sends (a NUL, a lone
continuation byte, a latin-1 header) can stop the record from being stored:
Postgres holds them in ``bytea`` columns and the disk spool in base64.

:func:`render` is the one public JSON shape of a record, used for the JSONL
file, ``GET /agent/logs`` and ``GET /team/audit``: ``request_body`` is the UTF-8
text of the body (``null`` when empty, the literal
``<binary body, not stored in audit log>`` when it is not UTF-8, as before), and
``request_body_base64`` carries the exact bytes whenever the text cannot.
Header values that are not UTF-8 are shown with ``\\xNN`` escapes, and then
``request_headers_base64`` carries every header's exact bytes.
:func:`parse_rendered` reads the exact record back from that shape (the audit
file's lines are verified from it).

Records never contain a secret: headers are the ones the agent sent with
credential-bearing values masked, and the body is what the agent sent (TAP
injects secrets only after this point).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, Final, TypedDict

BODY_LIMIT_BYTES: Final = 16 * 1024
BINARY_BODY: Final = "<binary body, not stored in audit log>"
SENSITIVE_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "api-key",
    }
)
MASK: Final = "[MASKED]"
# A UTF-8 sequence is at most four bytes, so a cut can split at most three off.
_MAX_SPLIT_TAIL: Final = 3


class AuditRecord(TypedDict):
    """One outcome, as queued, spooled and stored."""

    record_id: str
    """Unique per record; a record written twice (a retry after an unclear failure) is stored once."""
    request_id: str
    team_id: str
    agent_id: str
    credential_names: list[str]
    target_url: str | None
    method: str
    outcome: str
    approval_status: str | None
    upstream_status: int | None
    total_latency_ms: int
    approval_latency_ms: int | None
    upstream_latency_ms: int | None
    response_sanitized: bool
    request_headers: list[tuple[bytes, bytes]]
    """``(name, value)`` as received, credential-bearing values masked."""
    request_body: bytes | None
    """The first 16 KiB of the body as received; ``None`` when empty."""
    request_body_truncated: bool
    policy_reason: str | None
    require_passkey: bool
    approver_identity: str | None
    error: str | None
    timestamp: str
    """RFC 3339 UTC."""
    response_unscannable: str | None
    """Why the response could not be scanned for secrets, if it could not."""
    response_unscannable_allowed: bool
    """The unscannable response was passed on under the credential's opt-out."""
    approval_evidence_sha256: str | None
    """Digest of the passkey evidence the request was approved on (``GET .../evidence``)."""


def now_iso() -> str:
    """The current time as an RFC 3339 UTC timestamp."""
    return dt.datetime.now(dt.UTC).isoformat()


def header_bytes(text: str) -> bytes:
    """The bytes a header string stands for.

    The HTTP layer decodes header bytes as latin-1, so encoding back recovers
    them exactly; anything else (never produced by the server) falls back to
    UTF-8 with lone surrogates kept, so this never raises.
    """
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def mask_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers safe to log: values of credential-bearing headers are masked unless they are placeholders."""
    return [(name, _masked(name, value)) for name, value in headers]


def headers_for_audit(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Headers safe to record, as bytes: :func:`mask_headers`, then each string's bytes (one pass)."""
    return [(header_bytes(name), header_bytes(_masked(name, value))) for name, value in headers]


def _masked(name: str, value: str) -> str:
    if name.lower() in SENSITIVE_HEADERS and not value.strip().startswith("<CREDENTIAL:"):
        return MASK
    return value


def body_for_audit(body: bytes) -> tuple[bytes | None, bool]:
    """The body cut at 16 KiB (on a UTF-8 character boundary when it is text), and whether it was cut."""
    if not body:
        return None, False
    if len(body) <= BODY_LIMIT_BYTES:
        return body, False
    cut = body[:BODY_LIMIT_BYTES]
    for tail in range(_MAX_SPLIT_TAIL + 1):
        try:
            (cut[: len(cut) - tail] if tail else cut).decode("utf-8")
        except UnicodeDecodeError:
            continue
        return cut[: len(cut) - tail] if tail else cut, True
    return cut, True


def _show(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def render(record: AuditRecord | dict[str, Any]) -> dict[str, Any]:
    """The public JSON shape of a record (JSONL line, agent logs, team audit)."""
    out = {key: value for key, value in record.items() if key != "record_id"}
    body = record["request_body"]
    headers = record["request_headers"]
    # One decode per header in the common case: text that is UTF-8 shows as itself.
    shown: list[list[str]] = []
    exact = True
    for name, value in headers:
        try:
            shown.append([name.decode("utf-8"), value.decode("utf-8")])
        except UnicodeDecodeError:
            exact = False
            shown.append([_show(name), _show(value)])
    out["request_headers"] = shown
    out["request_headers_base64"] = None
    if not exact:
        out["request_headers_base64"] = [[_b64(n), _b64(v)] for n, v in headers]
    out["request_body_base64"] = None
    if body is None:
        out["request_body"] = None
    else:
        try:
            out["request_body"] = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            out["request_body"] = BINARY_BODY
            out["request_body_base64"] = _b64(body)
    return out


class NotARecord(ValueError):
    """A JSON object that is not the rendered shape of an audit record."""


def parse_rendered(shown: dict[str, Any]) -> dict[str, Any]:
    """The record fields (exact bytes) a :func:`render` output stands for. Raises NotARecord.

    The result has every field of :class:`AuditRecord` but ``record_id``.
    """
    try:
        out = {k: v for k, v in shown.items() if k not in _RENDER_ONLY}
        if shown["request_headers_base64"] is not None:
            pairs = shown["request_headers_base64"]
            out["request_headers"] = [
                (base64.b64decode(n, validate=True), base64.b64decode(v, validate=True))
                for n, v in pairs
            ]
        else:
            out["request_headers"] = [
                (str(n).encode("utf-8"), str(v).encode("utf-8"))
                for n, v in shown["request_headers"]
            ]
        if shown["request_body_base64"] is not None:
            out["request_body"] = base64.b64decode(shown["request_body_base64"], validate=True)
        elif shown["request_body"] is not None:
            out["request_body"] = str(shown["request_body"]).encode("utf-8")
        else:
            out["request_body"] = None
    except (KeyError, TypeError, ValueError) as exc:
        raise NotARecord("not an audit record") from exc
    return out


_RENDER_ONLY: Final = frozenset({"request_headers_base64", "request_body_base64", "chain"})
