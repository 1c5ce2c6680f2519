"""``GET /team/audit/export``: the team's audit log as a JSONL or CSV download (owners and admins).

The filters are those of ``GET /team/audit`` and the entries are the same
:func:`app.audit_record.render` shape, newest first, read page by page so a
long log is streamed rather than held in memory.

NOTE: a CSV file is opened by spreadsheets, and an agent chooses the target
URL, headers and body that end up in its cells. A cell that starts with a
character a spreadsheet reads as a formula (``= + - @``, tab, carriage
return) is prefixed with ``'`` so it stays text (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any, Final

import asyncpg
from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation
from app.admin.schemas import AuditExportQuery
from app.audit_record import render
from app.store import audit as audit_store
from app.store import db
from app.webstate import runtime

blueprint = Blueprint("audit_export", __name__)

PAGE_ROWS: Final = 500
#: The CSV columns, in order; lists and objects are written as JSON text.
CSV_COLUMNS: Final = (
    "timestamp",
    "request_id",
    "agent_id",
    "credential_names",
    "method",
    "target_url",
    "outcome",
    "approval_status",
    "upstream_status",
    "policy_reason",
    "require_passkey",
    "approver_identity",
    "error",
    "total_latency_ms",
    "approval_latency_ms",
    "upstream_latency_ms",
    "response_sanitized",
    "response_unscannable",
    "response_unscannable_allowed",
    "approval_evidence_sha256",
    "request_headers",
    "request_body",
    "request_body_truncated",
    "request_body_base64",
)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_TYPES: Final = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def csv_cell(value: Any) -> str:
    """One value as CSV text that a spreadsheet shows and never evaluates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_lines(rows: Iterable[Iterable[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


async def _entries(
    pool: asyncpg.Pool[asyncpg.Record], team_id: str, query: AuditExportQuery
) -> AsyncIterator[dict[str, Any]]:
    before: audit_store.Cursor | None = None
    while True:
        # One short transaction per page: a slow download never holds a connection.
        async with db.transaction(pool) as conn:
            page = await audit_store.page(
                conn,
                team_id,
                agent_id=query.agent,
                credential=query.credential,
                outcome=query.outcome,
                before=before,
                limit=PAGE_ROWS,
            )
        for entry in page.entries:
            yield render(entry)
        if page.next_cursor is None:
            return
        before = page.next_cursor


async def _body(
    pool: asyncpg.Pool[asyncpg.Record], team_id: str, query: AuditExportQuery
) -> AsyncIterator[bytes]:
    if query.format == "csv":
        yield csv_lines([CSV_COLUMNS]).encode()
    async for entry in _entries(pool, team_id, query):
        if query.format == "csv":
            yield csv_lines([[csv_cell(entry.get(column)) for column in CSV_COLUMNS]]).encode()
        else:
            yield (json.dumps(entry, ensure_ascii=False) + "\n").encode()


@operation(
    blueprint,
    "GET",
    "/team/audit/export",
    summary="Download the team's audit log as JSONL or CSV (same filters as /team/audit).",
    query=AuditExportQuery,
    responses={200: None},
    errors=(400, *SESSION_ERRORS),
    permission="view_audit",
    content_type=tuple(_TYPES.values()),
)
async def export_audit(query: AuditExportQuery, caller: Caller) -> Response:
    # NOTE: the body is produced after this handler returns, outside the app
    # context, so it gets the pool and the team now.
    body = _body(runtime().pool, caller.team_id, query)
    response = Response(body, content_type=_TYPES[query.format])
    response.headers["Content-Disposition"] = f'attachment; filename="tap-audit.{query.format}"'
    response.headers["Cache-Control"] = "no-store"
    return response
