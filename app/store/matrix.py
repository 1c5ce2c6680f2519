"""What the Matrix bot keeps in Postgres: its sync position and its messages.

Only one worker runs the sync loop at a time (:mod:`app.store.leads`). The
sync token is saved after every sync, so the next leader continues from it.
"""

from __future__ import annotations

import uuid

from app.store.db import Conn


async def sync_token(conn: Conn, account: str) -> str | None:
    """Where ``account``'s last sync stopped, or None if it never synced."""
    token: str | None = await conn.fetchval(
        "SELECT next_batch FROM matrix_sync_state WHERE account = $1", account
    )
    return token


async def save_sync_token(conn: Conn, account: str, next_batch: str) -> None:
    await conn.execute(
        "INSERT INTO matrix_sync_state (account, next_batch) VALUES ($1, $2)"
        " ON CONFLICT (account) DO UPDATE SET next_batch = $2, updated_at = now()",
        account,
        next_batch,
    )


async def txn_for_message(conn: Conn, *, room_id: str, event_id: str) -> uuid.UUID | None:
    """The request announced by our message ``event_id`` in ``room_id``, or None.

    NOTE: the room must match too: a reaction sent in another room that names
    our event id (event ids are not secret) decides nothing.
    """
    txn_id: uuid.UUID | None = await conn.fetchval(
        "SELECT txn_id FROM channel_outbox WHERE kind = 'matrix'"
        " AND message_ref ->> 'event_id' = $1 AND message_ref ->> 'room_id' = $2 LIMIT 1",
        event_id,
        room_id,
    )
    return txn_id
