"""The chain's hash, the record's two shapes, and signed checkpoints."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from app.audit_chain import (
    GENESIS,
    Chained,
    Checkpoint,
    CheckpointPolicy,
    Link,
    file_line,
    link_hash,
    normalized,
    sign_checkpoint,
)
from app.audit_record import parse_rendered, render
from app.crypto import KeyRing, verify_audit_signature
from app.errors import CryptoError
from tests.support.factories import AUDIT_TIME as T0
from tests.support.factories import make_audit_record as record

KEYS = KeyRing.from_master_key(bytes(range(32)))


def test_the_hash_covers_every_field_the_place_and_the_predecessor() -> None:
    stored = normalized(record())
    digest = link_hash(GENESIS, 1, stored)
    assert link_hash(GENESIS, 1, normalized(dict(stored))) == digest
    assert link_hash(GENESIS, 2, stored) != digest
    assert link_hash(b"\x01" * 32, 1, stored) != digest
    for name, value in [
        ("team_id", "other"),
        ("target_url", "https://api.example/v2"),
        ("request_body", b'{"a":2}'),
        ("request_headers", [(b"Content-Type", b"text/plain")]),
        ("upstream_status", 500),
        ("response_sanitized", True),
        ("timestamp", (T0 + dt.timedelta(microseconds=1)).isoformat()),
    ]:
        assert link_hash(GENESIS, 1, normalized({**stored, name: value})) != digest, name


def test_the_record_id_is_not_content() -> None:
    stored = normalized(record())
    other = normalized({**stored, "record_id": str(uuid.uuid4())})
    assert link_hash(GENESIS, 1, stored) == link_hash(GENESIS, 1, other)


def test_one_instant_has_one_spelling() -> None:
    plus_two = T0.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    a, b = normalized(record(timestamp=T0.isoformat())), normalized(record(timestamp=plus_two))
    assert a["timestamp"] == b["timestamp"] == "2026-01-02T03:04:05.600000+00:00"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"request_headers": [(b"X-Odd", b"\xff\xfe ok"), (b"X-Lit", b"\\xff")]},
        {"request_body": b"\xff\xfe\x00raw"},
        {"request_body": b"a\x00b"},
        {"request_body": None},
        {"request_body": b"<binary body, not stored in audit log>"},
    ],
)
def test_a_file_line_gives_back_the_exact_record(fields: dict[str, Any]) -> None:
    stored = normalized(record(**fields))
    link = Link(seq=1, prev=GENESIS, hash=link_hash(GENESIS, 1, stored))
    line = json.loads(file_line(Chained(stored, link)))
    back = normalized(parse_rendered(line))
    assert link_hash(GENESIS, 1, back) == link.hash
    assert Link.from_json(line["chain"]) == link


def test_headers_in_base64_only_when_the_text_cannot_hold_them() -> None:
    assert render(normalized(record()))["request_headers_base64"] is None
    odd = render(normalized(record(request_headers=[(b"X-Odd", b"\xff")])))
    assert odd["request_headers_base64"] == [["WC1PZGQ=", "/w=="]]


def test_a_checkpoint_is_signed_and_survives_its_json() -> None:
    signer = KEYS.audit_signer()
    checkpoint = sign_checkpoint(signer, "acme", 3, b"\x07" * 32, T0)
    verify_audit_signature(signer.public_key, checkpoint.message(), checkpoint.signature)
    again = Checkpoint.from_json(json.loads(json.dumps(checkpoint.to_json())))
    assert again == checkpoint
    for forged in (
        Checkpoint(**{**_fields(checkpoint), "count": 4}),
        Checkpoint(**{**_fields(checkpoint), "team_id": "other"}),
        Checkpoint(**{**_fields(checkpoint), "head": b"\x08" * 32}),
    ):
        with pytest.raises(CryptoError):
            verify_audit_signature(signer.public_key, forged.message(), forged.signature)


def _fields(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "team_id": checkpoint.team_id,
        "count": checkpoint.count,
        "head": checkpoint.head,
        "time": checkpoint.time,
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def test_the_signing_key_follows_the_master_key_and_shows_nothing() -> None:
    again = KeyRing.from_master_key(bytes(range(32))).audit_signer()
    other = KeyRing.from_master_key(bytes(32)).audit_signer()
    assert again.public_key == KEYS.audit_signer().public_key != other.public_key
    assert repr(again) == f"AuditSigner(key_id={again.key_id!r})"


@pytest.mark.parametrize(
    ("count", "signed", "age_secs", "due"),
    [(0, 0, 999, False), (5, 5, 999, False), (9, 0, 1, False), (10, 0, 1, True), (1, 0, 60, True)],
)
def test_a_checkpoint_is_due_after_n_records_or_m_seconds(
    count: int, signed: int, age_secs: float, due: bool
) -> None:
    policy = CheckpointPolicy(KEYS.audit_signer(), every_records=10, every_secs=60)
    assert policy.due(count, signed, T0, T0 + dt.timedelta(seconds=age_secs)) is due


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {},
        {"seq": 0, "prev": "00" * 32, "hash": "00" * 32},
        {"seq": 1, "prev": "zz", "hash": ""},
    ],
)
def test_a_malformed_link_is_refused(raw: Any) -> None:
    with pytest.raises(ValueError):
        Link.from_json(raw)
