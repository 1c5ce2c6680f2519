"""Verify audit chains and their checkpoints, from the JSONL file or from Postgres rows.

Verification raises :class:`ChainBroken` naming the first place where the
chain breaks (a 1-based line of the file, or a 1-based position in a team's
records in the database) and what happened there, and returns a summary only
when everything holds. Each team's records are checked in the order they
appear, with these steps:

1. the record's stated hash is recomputed from its content, its ``seq`` and
   its stated ``prev``: a mismatch means the record was **changed**;
2. a record that repeats the place of the record before it and links to the
   same predecessor means that earlier record was **inserted**;
3. a ``seq`` lower than the next expected one means this record was
   **inserted** (or copied) here;
4. a ``seq`` higher than expected means a record was **removed** here, or,
   when the missing one follows, the records were **reordered**;
5. a ``prev`` that is not the hash of the record before means that record was
   **changed** (and its hash recomputed to hide it).

A checkpoint must be signed by a trusted key (the current audit key, or an
earlier one the operator lists) and name exactly the count and head the
records before it reach. A checkpoint over more records than exist means
records were **removed** from the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from app.audit_chain import GENESIS, Checkpoint, Link, link_hash, normalized
from app.audit_record import parse_rendered
from app.crypto import audit_key_id, verify_audit_signature
from app.errors import CryptoError
from app.store import audit as audit_store
from app.store.db import Queryable

BreakKind = Literal["changed", "removed", "inserted", "reordered", "unreadable", "checkpoint"]
"""What happened where the chain breaks (``checkpoint``: a checkpoint is forged or wrong)."""
CHANGED: Final = "changed"
REMOVED: Final = "removed"
INSERTED: Final = "inserted"
REORDERED: Final = "reordered"
UNREADABLE: Final = "unreadable"
BAD_CHECKPOINT: Final = "checkpoint"


class ChainBroken(Exception):
    """The chain does not hold at ``index`` (a file line or a record position, from 1)."""

    def __init__(self, index: int, team_id: str, kind: BreakKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.index = index
        self.team_id = team_id
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class TrustedKeys:
    """The audit public keys whose checkpoints are believed, by key id."""

    by_id: Mapping[str, bytes]

    @classmethod
    def of(cls, *keys: bytes) -> TrustedKeys:
        return cls({audit_key_id(key): key for key in keys})

    def verify(self, checkpoint: Checkpoint) -> None:
        """Raise CryptoError unless a trusted key signed ``checkpoint``."""
        key = self.by_id.get(checkpoint.key_id)
        if key is None:
            raise CryptoError()
        verify_audit_signature(key, checkpoint.message(), checkpoint.signature)


@dataclass(slots=True)
class TeamSummary:
    """What held for one team."""

    records: int = 0
    checkpoints: int = 0
    head: bytes = GENESIS
    signed: int = 0
    """Records covered by the last checkpoint."""
    unchained: int = 0
    """Rows written before the chain existed (database only)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "checkpoints": self.checkpoints,
            "signed_records": self.signed,
            "head": self.head.hex(),
        }


@dataclass(slots=True)
class _Pending:
    index: int
    expected: int


@dataclass(slots=True)
class TeamChain:
    """One team's chain, fed record by record in the order they appear."""

    team_id: str
    summary: TeamSummary = field(default_factory=TeamSummary)
    _last_index: int = 0
    _last_prev: bytes = GENESIS
    _pending: _Pending | None = None

    def record(self, index: int, record: Mapping[str, Any], link: Link) -> None:
        """Accept the record at ``index`` or raise ChainBroken."""
        s = self.summary
        expected = s.records + 1
        if self._pending is not None:
            self._resolve(link.seq == self._pending.expected)
        # (1) the record against its own hash
        if link_hash(link.prev, link.seq, record) != link.hash:
            self._broken(index, CHANGED, f"record {link.seq} does not match its hash")
        # (2) the record before this one claimed this place and predecessor: one was inserted
        if s.records and link.hash == s.head:
            self._broken(index, INSERTED, f"record {link.seq} appears twice")
        if s.records and link.seq == s.records and link.prev == self._last_prev:
            self._broken(self._last_index, INSERTED, f"record {link.seq} appears twice")
        # (3) a place already taken
        if link.seq < expected:
            self._broken(index, INSERTED, f"record {link.seq} where {expected} was expected")
        # (4) a place skipped: removed, or reordered when the missing one comes next
        if link.seq > expected:
            self._pending = _Pending(index, expected)
            return
        # (5) the link to the record before
        if link.prev != s.head:
            if not s.records:
                self._broken(index, CHANGED, "the first record does not start the chain")
            self._broken(
                self._last_index,
                CHANGED,
                f"record {s.records} is not the one record {link.seq} follows",
            )
        self._last_prev, self._last_index = s.head, index
        s.records, s.head = link.seq, link.hash

    def checkpoint(self, index: int, checkpoint: Checkpoint, trusted: TrustedKeys) -> None:
        """Accept a checkpoint that follows the records it covers, or raise ChainBroken."""
        if self._pending is not None:
            self._resolve(False)
        try:
            trusted.verify(checkpoint)
        except CryptoError:
            self._broken(
                index,
                BAD_CHECKPOINT,
                f"the checkpoint over {checkpoint.count} records is not signed by a trusted key"
                f" (key {checkpoint.key_id})",
            )
        s = self.summary
        if checkpoint.count > s.records:
            self._broken(
                index,
                REMOVED,
                f"the checkpoint covers {checkpoint.count} records, {s.records} precede it",
            )
        if checkpoint.count < s.records or checkpoint.head != s.head:
            self._broken(
                index,
                BAD_CHECKPOINT,
                f"the checkpoint over {checkpoint.count} records does not match them",
            )
        s.checkpoints += 1
        s.signed = checkpoint.count

    def finish(self) -> None:
        """The input ended: a record skipped at the very end was removed."""
        if self._pending is not None:
            self._resolve(False)

    def _resolve(self, missing_came_next: bool) -> None:
        assert self._pending is not None
        pending, self._pending = self._pending, None
        if missing_came_next:
            self._broken(
                pending.index, REORDERED, f"record {pending.expected} comes after a later one"
            )
        self._broken(pending.index, REMOVED, f"record {pending.expected} is missing")

    def _broken(self, index: int, kind: BreakKind, detail: str) -> None:
        raise ChainBroken(index, self.team_id, kind, detail)


@dataclass(slots=True)
class Verification:
    """The teams of one verified source."""

    teams: dict[str, TeamSummary] = field(default_factory=dict)
    unchained: int = 0
    """Records written before the chain existed (never after the first chained one)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "teams": {team: s.to_json() for team, s in sorted(self.teams.items())},
            "unchained_records": self.unchained,
        }


def verify_lines(lines: Iterable[str], trusted: TrustedKeys) -> Verification:
    """Verify the JSONL audit file's lines (every team in it). Raises ChainBroken."""
    chains: dict[str, TeamChain] = {}
    result = Verification()
    chained_seen = False
    for index, line in enumerate(lines, start=1):
        entry = _entry(index, line)
        if "checkpoint" in entry:
            try:
                checkpoint = Checkpoint.from_json(entry["checkpoint"])
            except ValueError:
                raise ChainBroken(index, "", UNREADABLE, "not a checkpoint") from None
            chain = chains.setdefault(checkpoint.team_id, TeamChain(checkpoint.team_id))
            chain.checkpoint(index, checkpoint, trusted)
            chained_seen = True
            continue
        team_id = str(entry.get("team_id", ""))
        if "chain" not in entry:
            if chained_seen:
                raise ChainBroken(index, team_id, INSERTED, "a record outside the chain")
            result.unchained += 1
            continue
        try:
            link = Link.from_json(entry["chain"])
            record = normalized(parse_rendered(entry))
        except (ValueError, TypeError):
            raise ChainBroken(index, team_id, UNREADABLE, "not an audit record") from None
        chained_seen = True
        chains.setdefault(team_id, TeamChain(team_id)).record(index, record, link)
    for chain in chains.values():
        chain.finish()
    result.teams = {team: chain.summary for team, chain in chains.items()}
    return result


def _entry(index: int, line: str) -> dict[str, Any]:
    try:
        entry = json.loads(line)
    except ValueError:
        entry = None
    if not isinstance(entry, dict):
        raise ChainBroken(index, "", UNREADABLE, "not a JSON object")
    return entry


class DatabaseChain:
    """One team's chain as Postgres rows, fed in insertion order (:func:`app.store.audit.chain_rows`)."""

    def __init__(
        self, team_id: str, checkpoints: Iterable[Checkpoint], trusted: TrustedKeys
    ) -> None:
        self._chain = TeamChain(team_id)
        self._checkpoints = {c.count: c for c in checkpoints}
        self._trusted = trusted
        self._position = 0
        self.unchained = 0

    def row(self, record: Mapping[str, Any], link: Link | None) -> None:
        """The team's next row. Raises ChainBroken (the index is the row's position, from 1)."""
        if link is None:
            if self._position:
                raise ChainBroken(
                    self._position + 1, self._chain.team_id, INSERTED, "a record outside the chain"
                )
            self.unchained += 1
            return
        self._position += 1
        self._chain.record(self._position, normalized(dict(record)), link)
        if self._chain.summary.records == link.seq and link.seq in self._checkpoints:
            checkpoint = self._checkpoints.pop(link.seq)
            self._chain.checkpoint(self._position, checkpoint, self._trusted)

    def finish(self) -> TeamSummary:
        """No more rows: every checkpoint must have been met. Raises ChainBroken."""
        self._chain.finish()
        self._chain.summary.unchained = self.unchained
        if self._checkpoints:
            missing = min(self._checkpoints)
            raise ChainBroken(
                self._position + 1,
                self._chain.team_id,
                REMOVED,
                f"a checkpoint covers {missing} records, {self._position} remain",
            )
        return self._chain.summary


ROWS_PER_READ: Final = 1000


async def verify_database_team(
    conn: Queryable, team_id: str, trusted: TrustedKeys, *, rows_per_read: int = ROWS_PER_READ
) -> TeamSummary:
    """Verify one team's chain and checkpoints in Postgres. Raises ChainBroken or StoreError.

    The event loop runs other work between reads; a smaller ``rows_per_read``
    hashes less at a stretch (a server verifying beside live traffic).
    """
    chain = DatabaseChain(team_id, await audit_store.checkpoints(conn, team_id), trusted)
    after = 0
    while rows := await audit_store.chain_rows(conn, team_id, after, rows_per_read):
        for row in rows:
            chain.row(row.record, row.link)
        after = rows[-1].id
    return chain.finish()


async def verify_database(conn: Queryable, trusted: TrustedKeys) -> Verification:
    """Verify every team's chain in Postgres. Raises ChainBroken or StoreError."""
    result = Verification()
    for team_id in await audit_store.chained_teams(conn):
        summary = await verify_database_team(conn, team_id, trusted)
        result.teams[team_id] = summary
        result.unchained += summary.unchained
    return result
