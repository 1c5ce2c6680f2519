"""The audit hash chain and its signed checkpoints: what is hashed and what is signed.

Each team's audit records form one chain. Record ``n`` of a team (``seq``,
from 1) carries ``prev``, the hash of record ``n - 1`` (32 zero bytes for the
first), and its own ``hash``::

    hash = SHA-256("tap.audit.chain.v1\\n" || prev || canonical(record, seq))

``canonical`` is the record's fields as stored (bytes in base64, the timestamp
in UTC with microseconds, no ``record_id``) as sorted, compact JSON. The same
bytes come out of a Postgres row and out of a line of the JSONL file, so one
chain verifies in both places. Changing, removing, inserting or reordering a
record breaks the chain at that record.

The chain is a plain hash, so anyone can check it, and anyone who can write
could also recompute it; what makes it tamper-evident is the **checkpoint**:
every N records or M seconds TAP signs ``(team, count, head, time)`` with an
Ed25519 key derived from the master key (:meth:`app.crypto.KeyRing.audit_signer`),
whose public key is published at ``GET /audit/public-key``. A checkpoint pins
every record up to ``count``; shipped to an append-only sink it also pins the
chain's length against truncation.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from app.audit_record import AuditRecord, render
from app.crypto import AuditSigner

GENESIS: Final = bytes(32)
HASH_BYTES: Final = 32
_CHAIN_DOMAIN: Final = b"tap.audit.chain.v1\n"
_CHECKPOINT_DOMAIN: Final = b"tap.audit.checkpoint.v1\n"
_BOOL_FIELDS: Final = frozenset(
    {
        "response_sanitized",
        "request_body_truncated",
        "require_passkey",
        "response_unscannable_allowed",
    }
)
_INT_FIELDS: Final = frozenset(
    {"upstream_status", "total_latency_ms", "approval_latency_ms", "upstream_latency_ms"}
)
HASHED_FIELDS: Final = (
    "request_id", "team_id", "agent_id", "credential_names", "target_url", "method", "outcome",
    "approval_status", "upstream_status", "total_latency_ms", "approval_latency_ms", "upstream_latency_ms",
    "response_sanitized", "request_headers", "request_body", "request_body_truncated", "policy_reason",
    "require_passkey", "approver_identity", "error", "timestamp", "response_unscannable",
    "response_unscannable_allowed", "approval_evidence_sha256",
)  # fmt: skip
"""Every stored field of a record but ``record_id`` (a retry token, not content)."""


def utc_timestamp(value: str | dt.datetime) -> str:
    """One spelling of an instant: UTC, microseconds. Raises ValueError."""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError("a timestamp without a time zone")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def normalized(record: Mapping[str, Any]) -> AuditRecord:
    """The record as Postgres stores it: absent optional fields take their defaults.

    Raises ValueError or TypeError when a field is malformed (the database would refuse it).
    """
    out: dict[str, Any] = dict(record)
    for name in HASHED_FIELDS:
        value: Any = out.get(name)
        if name == "request_id":
            value = str(uuid.UUID(str(value)))
        elif name in _BOOL_FIELDS:
            value = bool(value)
        elif name in _INT_FIELDS:
            value = None if value is None else int(value)
        elif name == "credential_names":
            value = [str(v) for v in value or []]
        elif name == "request_headers":
            value = [(bytes(n), bytes(v)) for n, v in value or []]
        elif name == "request_body":
            value = None if value is None else bytes(value)
        elif name == "timestamp":
            value = utc_timestamp(value)
        elif value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be text")
        out[name] = value
    result: AuditRecord = out  # type: ignore[assignment]
    return result


def canonical(record: Mapping[str, Any], seq: int) -> bytes:
    """The bytes hashed for record ``seq`` of its team (``record`` already :func:`normalized`)."""
    shown: dict[str, Any] = {name: record.get(name) for name in HASHED_FIELDS}
    shown["request_headers"] = [[_b64(n), _b64(v)] for n, v in record["request_headers"]]
    body = record["request_body"]
    shown["request_body"] = None if body is None else _b64(body)
    shown["seq"] = seq
    return json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def link_hash(prev: bytes, seq: int, record: Mapping[str, Any]) -> bytes:
    """The hash of record ``seq`` whose predecessor's hash is ``prev``."""
    return hashlib.sha256(_CHAIN_DOMAIN + prev + canonical(record, seq)).digest()


@dataclass(frozen=True, slots=True)
class Link:
    """Where a record sits in its team's chain."""

    seq: int
    prev: bytes
    hash: bytes

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "prev": self.prev.hex(), "hash": self.hash.hex()}

    @classmethod
    def from_json(cls, raw: Any) -> Link:
        """Raises ValueError for anything that is not a link this module wrote."""
        try:
            seq, prev, digest = raw["seq"], bytes.fromhex(raw["prev"]), bytes.fromhex(raw["hash"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError("not a chain link") from exc
        if type(seq) is not int or seq < 1 or len(prev) != HASH_BYTES or len(digest) != HASH_BYTES:
            raise ValueError("not a chain link")
        return cls(seq=seq, prev=prev, hash=digest)


@dataclass(frozen=True, slots=True)
class Chained:
    """A record as committed: its stored fields and its link."""

    record: AuditRecord
    link: Link


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: team ``team_id``'s chain held ``count`` records ending in ``head``."""

    team_id: str
    count: int
    head: bytes
    time: str
    """RFC 3339 UTC with microseconds (:func:`utc_timestamp`)."""
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        """The bytes signed."""
        return _checkpoint_message(self.team_id, self.count, self.head, self.time, self.key_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "count": self.count,
            "head": self.head.hex(),
            "time": self.time,
            "key_id": self.key_id,
            "signature": _b64(self.signature),
        }

    @classmethod
    def from_json(cls, raw: Any) -> Checkpoint:
        """Raises ValueError for anything that is not a checkpoint this module wrote."""
        try:
            checkpoint = cls(
                team_id=str(raw["team_id"]),
                count=raw["count"],
                head=bytes.fromhex(raw["head"]),
                time=utc_timestamp(raw["time"]),
                key_id=str(raw["key_id"]),
                signature=base64.b64decode(raw["signature"], validate=True),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ValueError("not a checkpoint") from exc
        if type(checkpoint.count) is not int or checkpoint.count < 1:
            raise ValueError("not a checkpoint")
        return checkpoint


def sign_checkpoint(
    signer: AuditSigner, team_id: str, count: int, head: bytes, at: dt.datetime
) -> Checkpoint:
    """A checkpoint over the first ``count`` records of ``team_id``, signed now."""
    time = utc_timestamp(at)
    signature = signer.sign(_checkpoint_message(team_id, count, head, time, signer.key_id))
    return Checkpoint(team_id, count, head, time, signer.key_id, signature)


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When the writer signs: after ``every_records`` records, or ``every_secs`` after an unsigned one."""

    signer: AuditSigner
    every_records: int
    every_secs: float

    def due(self, count: int, signed_count: int, signed_at: dt.datetime, now: dt.datetime) -> bool:
        """Whether a chain of ``count`` records, signed up to ``signed_count`` at ``signed_at``, needs one."""
        if count <= signed_count:
            return False
        return (
            count - signed_count >= self.every_records
            or (now - signed_at).total_seconds() >= self.every_secs
        )


def file_line(item: Chained | Checkpoint) -> str:
    """The JSONL audit file's line for a committed record (its public shape plus ``chain``) or a checkpoint."""
    if isinstance(item, Checkpoint):
        return json.dumps({"checkpoint": item.to_json()}, separators=(",", ":")) + "\n"
    shown = render(item.record)
    shown["chain"] = item.link.to_json()
    return json.dumps(shown, separators=(",", ":")) + "\n"


def _checkpoint_message(team_id: str, count: int, head: bytes, time: str, key_id: str) -> bytes:
    body = {"team_id": team_id, "count": count, "head": head.hex(), "time": time, "key_id": key_id}
    return _CHECKPOINT_DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
