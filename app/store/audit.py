"""Audit rows in Postgres: appended in batches to each team's hash chain, read per team and per agent.

Headers and body are ``bytea`` (any bytes an agent sends can be stored), and
``record_id`` is unique, so writing a record twice (a retry after a failure
whose outcome was unclear, a spool file drained again after a crash) stores it
once. A batch is one transaction: for each of its teams (in sorted order, so
two writers never deadlock) it locks the team's row in ``audit_chain_heads``,
links the records after the head (:mod:`app.audit_chain`), inserts them,
moves the head and, when due, signs a checkpoint. Workers and replicas thus
append to one chain per team, one after another. When the database refuses a
batch for what is *in* it, each record is tried alone, so one bad record
cannot take the others with it.

The admin API pages through a team's log newest first, keyed by
``(timestamp, id)``, so rows that share a timestamp are neither skipped nor
repeated across pages. Every read is keyed by team id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from app.audit_chain import (
    Chained,
    Checkpoint,
    CheckpointPolicy,
    Link,
    link_hash,
    normalized,
    sign_checkpoint,
    utc_timestamp,
)
from app.audit_record import AuditRecord
from app.errors import DatabaseUnavailable, StoreError
from app.store import db
from app.store.db import Conn, Queryable, translated

COLUMNS: Final = (
    "request_id", "team_id", "agent_id", "credential_names", "target_url", "method", "outcome",
    "approval_status", "upstream_status", "total_latency_ms", "approval_latency_ms", "upstream_latency_ms",
    "response_sanitized", "request_headers", "request_body", "request_body_truncated", "policy_reason",
    "require_passkey", "approver_identity", "error", "timestamp", "response_unscannable",
    "response_unscannable_allowed", "approval_evidence_sha256",
)  # fmt: skip
_WRITTEN: Final = ("record_id", *COLUMNS)

_CHAIN_COLUMNS: Final = ("chain_seq", "chain_prev", "chain_hash")
_INSERT: Final = (
    f"INSERT INTO audit_log ({', '.join((*_WRITTEN, *_CHAIN_COLUMNS))}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_WRITTEN) + len(_CHAIN_COLUMNS) + 1))})"
)
# NOTE: an upsert that locks the team's head row until commit: appends to one team's chain
# run one after another across workers and replicas, and never deadlock (teams are locked
# in sorted order).
_LOCK_HEAD: Final = (
    "INSERT INTO audit_chain_heads (team_id) VALUES ($1)"
    " ON CONFLICT (team_id) DO UPDATE SET team_id = EXCLUDED.team_id"
    " RETURNING count, head, signed_count, signed_at"
)
_VERIFY_LOCK: Final = "tap/audit-verify/"
# Each record's credentials, one row each, for the audit page's credential filter.
_INDEX_CREDENTIALS: Final = (
    "INSERT INTO audit_log_credentials (id, team_id, credential, timestamp)"
    " SELECT DISTINCT a.id, a.team_id, c.credential, a.timestamp"
    " FROM audit_log a, unnest(a.credential_names) AS c(credential)"
    " WHERE a.record_id = ANY($1::uuid[]) AND c.credential IS NOT NULL"
)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the database refused, and why (an error class name, never a value)."""

    record: AuditRecord
    reason: str


@dataclass(frozen=True, slots=True)
class Appended:
    """What one :func:`append` committed, in chain order, and what the database refused."""

    written: list[Chained | Checkpoint]
    """Each team's new records, each followed by the checkpoint signed over it, if any."""
    refused: list[Rejected]
    interrupted: bool = False
    """The database went away while records were stored one by one: some were not."""


def _row(record: AuditRecord, link: Link) -> tuple[Any, ...]:
    """Bind parameters for one normalized record and its link."""
    values: list[Any] = []
    for column in _WRITTEN:
        value: Any = record[column]
        if column in ("record_id", "request_id"):
            value = uuid.UUID(value)
        elif column == "request_headers":
            value = [[name, val] for name, val in value]
        elif column == "timestamp":
            value = dt.datetime.fromisoformat(value)
        values.append(value)
    return (*values, link.seq, link.prev, link.hash)


def _prepared(record: AuditRecord) -> AuditRecord:
    """The record as it will be stored, with a record id. Raises ValueError or TypeError."""
    stored = normalized(record)
    raw = record.get("record_id")
    stored["record_id"] = str(uuid.UUID(raw) if raw is not None else uuid.uuid4())
    return stored


async def append(
    pool: asyncpg.Pool,
    records: Sequence[AuditRecord],
    policy: CheckpointPolicy,
    *,
    fresh: bool = False,
) -> Appended:
    """Append ``records`` to their teams' chains; return what was committed and what was refused.

    A record already stored (same ``record_id``) is skipped, so writing a batch
    again is safe. ``fresh`` says no record of the batch was ever offered to
    the database before, so that look-up is left out (the unique ``record_id``
    still refuses a duplicate). Raises DatabaseUnavailable when the database
    cannot be reached: then nothing is known to be stored.
    """
    rejected: list[Rejected] = []
    prepared: dict[str, AuditRecord] = {}
    for record in records:
        try:
            stored = _prepared(record)
        except (ValueError, TypeError) as exc:
            rejected.append(Rejected(record, type(exc).__name__))
            continue
        prepared.setdefault(stored["record_id"], stored)
    if not prepared:
        return Appended([], rejected)
    batch = list(prepared.values())
    try:
        async with db.transaction(pool) as conn:
            return Appended(await _append(conn, batch, policy, fresh=fresh), rejected)
    except DatabaseUnavailable:
        raise
    except StoreError:
        pass  # Something in the batch was refused: find it, store the rest.
    written: list[Chained | Checkpoint] = []
    for record in batch:
        try:
            async with db.transaction(pool) as conn:
                written.extend(await _append(conn, [record], policy, fresh=fresh))
        except DatabaseUnavailable:
            if not written:
                raise
            # NOTE: what was committed is returned so it reaches the file; the caller
            # writes the batch again later, and the stored records are then skipped.
            return Appended(written, rejected, interrupted=True)
        except StoreError as exc:
            rejected.append(Rejected(record, type(exc.__cause__ or exc).__name__))
    return Appended(written, rejected)


async def _append(
    conn: Conn, records: list[AuditRecord], policy: CheckpointPolicy, *, fresh: bool
) -> list[Chained | Checkpoint]:
    by_team: dict[str, list[AuditRecord]] = {}
    for record in records:
        by_team.setdefault(record["team_id"], []).append(record)
    written: list[Chained | Checkpoint] = []
    now = dt.datetime.now(dt.UTC)
    for team_id in sorted(by_team):
        head = await conn.fetchrow(_LOCK_HEAD, team_id)
        assert head is not None
        # NOTE: read under the lock, so a record another writer committed meanwhile is seen
        # and not chained twice.
        present: set[str] = set()
        if not fresh:
            present = {
                str(row[0])
                for row in await conn.fetch(
                    "SELECT record_id FROM audit_log WHERE record_id = ANY($1::uuid[])",
                    [uuid.UUID(r["record_id"]) for r in by_team[team_id]],
                )
            }
        count, prev = int(head["count"]), bytes(head["head"])
        chained: list[Chained] = []
        for record in by_team[team_id]:
            if record["record_id"] in present:
                continue
            count += 1
            link = Link(seq=count, prev=prev, hash=link_hash(prev, count, record))
            chained.append(Chained(record, link))
            prev = link.hash
        if not chained:
            continue
        await conn.executemany(_INSERT, [_row(c.record, c.link) for c in chained])
        await conn.execute(_INDEX_CREDENTIALS, [uuid.UUID(c.record["record_id"]) for c in chained])
        written.extend(chained)
        if policy.due(count, int(head["signed_count"]), head["signed_at"], now):
            checkpoint = sign_checkpoint(policy.signer, team_id, count, prev, now)
            await conn.execute(
                "UPDATE audit_chain_heads SET count = $2, head = $3, signed_count = $2,"
                " signed_at = $4 WHERE team_id = $1",
                team_id,
                count,
                prev,
                now,
            )
            await _store_checkpoint(conn, checkpoint)
            written.append(checkpoint)
        else:
            await conn.execute(
                "UPDATE audit_chain_heads SET count = $2, head = $3 WHERE team_id = $1",
                team_id,
                count,
                prev,
            )
    return written


async def _store_checkpoint(conn: Conn, checkpoint: Checkpoint) -> None:
    await conn.execute(
        "INSERT INTO audit_checkpoints (team_id, count, head, signed_at, key_id, signature)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        checkpoint.team_id,
        checkpoint.count,
        checkpoint.head,
        dt.datetime.fromisoformat(checkpoint.time),
        checkpoint.key_id,
        checkpoint.signature,
    )


async def sign_due(pool: asyncpg.Pool, policy: CheckpointPolicy) -> list[Checkpoint]:
    """Sign every chain whose unsigned records waited ``every_secs``; return the checkpoints.

    A team another writer is appending to is skipped: that writer signs it if due.
    Raises DatabaseUnavailable or StoreError.
    """
    now = dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(seconds=policy.every_secs)
    async with db.connection(pool) as conn:
        due = await conn.fetch(
            "SELECT team_id FROM audit_chain_heads WHERE count > signed_count AND signed_at <= $1"
            " ORDER BY team_id",
            cutoff,
        )
    signed = []
    for row in due:
        async with db.transaction(pool) as conn:
            head = await conn.fetchrow(
                "SELECT count, head, signed_count, signed_at FROM audit_chain_heads"
                " WHERE team_id = $1 FOR UPDATE SKIP LOCKED",
                row["team_id"],
            )
            if head is None or not policy.due(
                head["count"], head["signed_count"], head["signed_at"], now
            ):
                continue
            checkpoint = sign_checkpoint(
                policy.signer, row["team_id"], head["count"], bytes(head["head"]), now
            )
            await conn.execute(
                "UPDATE audit_chain_heads SET signed_count = $2, signed_at = $3 WHERE team_id = $1",
                row["team_id"],
                head["count"],
                now,
            )
            await _store_checkpoint(conn, checkpoint)
        signed.append(checkpoint)
    return signed


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next (older) page starts."""

    timestamp: dt.datetime
    id: int


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[AuditRecord]
    next_cursor: Cursor | None


def _record(row: asyncpg.Record) -> AuditRecord:
    out: dict[str, Any] = {column: row[column] for column in _WRITTEN}
    out["record_id"] = str(out["record_id"])
    out["request_id"] = str(out["request_id"])
    out["request_headers"] = [(bytes(n), bytes(v)) for n, v in out["request_headers"] or []]
    out["request_body"] = None if out["request_body"] is None else bytes(out["request_body"])
    out["credential_names"] = list(out["credential_names"])
    out["timestamp"] = out["timestamp"].isoformat()
    record: AuditRecord = out  # type: ignore[assignment]
    return record


@translated
async def for_agent(conn: Queryable, team_id: str, agent_id: str, limit: int) -> list[AuditRecord]:
    """Newest first, scoped by team *and* agent (agent names are unique only per team)."""
    rows = await conn.fetch(
        f"SELECT {', '.join(_WRITTEN)} FROM audit_log WHERE team_id = $1 AND agent_id = $2"
        " ORDER BY timestamp DESC, id DESC LIMIT $3",
        team_id,
        agent_id,
        limit,
    )
    return [_record(row) for row in rows]


async def page(
    conn: Conn,
    team_id: str,
    *,
    agent_id: str | None,
    credential: str | None,
    outcome: str | None,
    before: Cursor | None,
    limit: int,
) -> Page:
    """Up to ``limit`` rows older than ``before``, newest first, with optional filters.

    NOTE: only the filters given are in the query. A catch-all form such as
    ``($4 IS NULL OR outcome = $4)`` gets a generic plan that can use no
    filter's index, and a rare value then reads the team's every row.
    """
    args: list[Any] = [team_id]
    source = "audit_log a"
    # The row the page is ordered by: a credential filter reads that credential's own
    # index (audit_log_credentials, one row per record and credential) newest first.
    by = "a"
    if credential is not None:
        args.append(credential)
        source += f" JOIN audit_log_credentials c ON c.id = a.id AND c.credential = ${len(args)}"
        by = "c"
    where = [f"{by}.team_id = $1"]
    for condition, value in (("a.agent_id = ${}", agent_id), ("a.outcome = ${}", outcome)):
        if value is not None:
            args.append(value)
            where.append(condition.format(len(args)))
    if before is not None:
        args += [before.timestamp, before.id]
        where.append(f"({by}.timestamp, {by}.id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    columns = ", ".join(f"a.{column}" for column in ("id", *_WRITTEN))
    rows = await conn.fetch(
        f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)}"
        f" ORDER BY {by}.timestamp DESC, {by}.id DESC LIMIT ${len(args)}",
        *args,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = Cursor(rows[-1]["timestamp"], rows[-1]["id"]) if more and rows else None
    return Page(entries=[_record(row) for row in rows], next_cursor=cursor)


async def of_request(conn: Queryable, team_id: str, request_id: uuid.UUID) -> list[AuditRecord]:
    """Every audit record of one request of ``team_id`` (parked, then forwarded or refused)."""
    rows = await conn.fetch(
        f"SELECT {', '.join(_WRITTEN)} FROM audit_log WHERE team_id = $1 AND request_id = $2"
        " ORDER BY timestamp",
        team_id,
        request_id,
    )
    return [_record(row) for row in rows]


# -- reading the chains back, to verify them ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One stored row of a team, with its link (``None`` for a row written before the chain)."""

    id: int
    record: AuditRecord
    link: Link | None


@translated
async def chain_rows(conn: Queryable, team_id: str, after_id: int, limit: int) -> list[ChainRow]:
    """Up to ``limit`` rows of ``team_id`` after row ``after_id``, in the order they were inserted.

    NOTE: ids are taken while the team's head row is locked, so within a team
    insertion order is chain order.
    """
    rows = await conn.fetch(
        f"SELECT id, {', '.join((*_WRITTEN, *_CHAIN_COLUMNS))} FROM audit_log"
        " WHERE team_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        team_id,
        after_id,
        limit,
    )
    out = []
    for row in rows:
        link = None
        if row["chain_seq"] is not None or row["chain_hash"] is not None:
            link = Link(
                seq=row["chain_seq"] or 0,
                prev=bytes(row["chain_prev"] or b""),
                hash=bytes(row["chain_hash"] or b""),
            )
        out.append(ChainRow(id=row["id"], record=_record(row), link=link))
    return out


@translated
async def try_lock_verification(conn: Conn, team_id: str) -> bool:
    """Take the team's verification lock until ``conn``'s transaction ends; False if it is held."""
    taken: bool = await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", _VERIFY_LOCK + team_id
    )
    return taken


async def chained_teams(conn: Queryable) -> list[str]:
    """Every team with a chain, a chained row or a checkpoint."""
    rows = await conn.fetch(
        "SELECT team_id FROM audit_chain_heads"
        " UNION SELECT DISTINCT team_id FROM audit_log WHERE chain_seq IS NOT NULL"
        " UNION SELECT team_id FROM audit_checkpoints ORDER BY 1"
    )
    return [row[0] for row in rows]


@translated
async def checkpoints(conn: Queryable, team_id: str) -> list[Checkpoint]:
    """The team's checkpoints, oldest first."""
    rows = await conn.fetch(
        "SELECT count, head, signed_at, key_id, signature FROM audit_checkpoints"
        " WHERE team_id = $1 ORDER BY count",
        team_id,
    )
    return [
        Checkpoint(
            team_id=team_id,
            count=row["count"],
            head=bytes(row["head"]),
            time=utc_timestamp(row["signed_at"]),
            key_id=row["key_id"],
            signature=bytes(row["signature"]),
        )
        for row in rows
    ]
