"""``GET /team/audit``: the team's audit log, newest first, filtered and paged (owners and admins).

``next_before`` is an opaque cursor; pass it back as ``before`` for the next
(older) page. It is ``null`` on the last page.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, respond
from app.admin.schemas import AuditPage, AuditQuery
from app.errors import ValidationFailed
from app.store import audit as audit_store
from app.store import db
from app.webstate import runtime

blueprint = Blueprint("audit", __name__)


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND: Final = dt.timedelta(microseconds=1)
_CURSOR: Final = re.compile(r"^([0-9]{1,18})\.([0-9]{1,18})$")


def encode_cursor(cursor: audit_store.Cursor) -> str:
    """``<microseconds since the epoch>.<row id>``: URL-safe and exact."""
    return f"{(cursor.timestamp - _EPOCH) // _MICROSECOND}.{cursor.id}"


def decode_cursor(raw: str) -> audit_store.Cursor:
    """Raises ValidationFailed for anything that is not a cursor this API produced."""
    match = _CURSOR.match(raw)
    if match is None:
        raise ValidationFailed("before must be the next_before value of a previous page")
    micros, row_id = int(match.group(1)), int(match.group(2))
    try:
        timestamp = _EPOCH + micros * _MICROSECOND
    except OverflowError:
        raise ValidationFailed("before must be the next_before value of a previous page") from None
    return audit_store.Cursor(timestamp=timestamp, id=row_id)


@operation(
    blueprint,
    "GET",
    "/team/audit",
    summary="The team's audit log (filters: agent, credential, outcome; paged with before).",
    query=AuditQuery,
    responses={200: AuditPage},
    errors=(400, *SESSION_ERRORS),
    permission="view_audit",
)
async def team_audit(query: AuditQuery, caller: Caller) -> Response:
    before = decode_cursor(query.before) if query.before else None
    async with db.transaction(runtime().pool) as conn:
        page = await audit_store.page(
            conn,
            caller.team_id,
            agent_id=query.agent,
            credential=query.credential,
            outcome=query.outcome,
            before=before,
            limit=query.limit,
        )
    return respond(
        AuditPage(
            entries=page.entries,
            next_before=encode_cursor(page.next_cursor) if page.next_cursor else None,
        )
    )
