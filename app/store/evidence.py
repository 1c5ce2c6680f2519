"""What each passkey approval signed, kept so anyone can re-check it later."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Final

import asyncpg

from app.store.db import Conn, Queryable


@dataclass(frozen=True, slots=True)
class Evidence:
    """One passkey vote: the exact bytes the authenticator signed, and the key to check them."""

    txn_id: uuid.UUID
    team_id: str
    approver: str
    canonical_request: str
    credential_id: str
    public_key: bytes
    authenticator_data: bytes
    client_data_json: bytes
    signature: bytes
    created_at: dt.datetime


_COLUMNS: Final = (
    "txn_id, team_id, approver, canonical_request, credential_id, public_key,"
    " authenticator_data, client_data_json, signature, created_at"
)


def _evidence(row: asyncpg.Record) -> Evidence:
    return Evidence(
        txn_id=row["txn_id"],
        team_id=row["team_id"],
        approver=row["approver"],
        canonical_request=row["canonical_request"],
        credential_id=row["credential_id"],
        public_key=bytes(row["public_key"]),
        authenticator_data=bytes(row["authenticator_data"]),
        client_data_json=bytes(row["client_data_json"]),
        signature=bytes(row["signature"]),
        created_at=row["created_at"],
    )


async def add(
    conn: Conn,
    *,
    txn_id: uuid.UUID,
    team_id: str,
    approver: str,
    canonical_request: str,
    credential_id: str,
    public_key: bytes,
    authenticator_data: bytes,
    client_data_json: bytes,
    signature: bytes,
) -> None:
    """Store one passkey vote's evidence (a repeated vote by the same approver replaces it)."""
    await conn.execute(
        "INSERT INTO approval_evidence (txn_id, team_id, approver, canonical_request, credential_id,"
        " public_key, authenticator_data, client_data_json, signature)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (txn_id, approver) DO UPDATE SET canonical_request = EXCLUDED.canonical_request,"
        " credential_id = EXCLUDED.credential_id, public_key = EXCLUDED.public_key,"
        " authenticator_data = EXCLUDED.authenticator_data,"
        " client_data_json = EXCLUDED.client_data_json, signature = EXCLUDED.signature,"
        " created_at = now()",
        txn_id,
        team_id,
        approver,
        canonical_request,
        credential_id,
        public_key,
        authenticator_data,
        client_data_json,
        signature,
    )


async def of_request(conn: Queryable, team_id: str, txn_id: uuid.UUID) -> list[Evidence]:
    """Every passkey vote on one request of ``team_id``, in the order they were cast."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM approval_evidence WHERE team_id = $1 AND txn_id = $2"
        " ORDER BY created_at, approver",
        team_id,
        txn_id,
    )
    return [_evidence(row) for row in rows]
