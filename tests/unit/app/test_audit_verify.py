"""Verification finds the first break in a file, names the line and what happened there."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest

from app.audit_chain import Chained, Link, file_line, link_hash, normalized, sign_checkpoint
from app.audit_verify import ChainBroken, DatabaseChain, TrustedKeys, verify_lines
from app.crypto import KeyRing
from tests.support import audit_tamper
from tests.support.factories import AUDIT_TIME as T0
from tests.support.factories import make_audit_record as record

SIGNER = KeyRing.from_master_key(bytes(range(32))).audit_signer()
TRUSTED = TrustedKeys.of(SIGNER.public_key)


def chain_lines(teams: list[str], every: int = 0) -> list[str]:
    """One record per team name (in order), a checkpoint after every ``every`` records of a team."""
    heads: dict[str, tuple[int, bytes]] = {}
    lines = []
    for i, team in enumerate(teams):
        count, prev = heads.get(team, (0, bytes(32)))
        stored = normalized(
            record(
                team_id=team,
                target_url=f"https://api.example/{i}",
                timestamp=(T0 + dt.timedelta(seconds=i)).isoformat(),
            )
        )
        count += 1
        link = Link(count, prev, link_hash(prev, count, stored))
        lines.append(file_line(Chained(stored, link)).rstrip("\n"))
        heads[team] = (count, link.hash)
        if every and count % every == 0:
            lines.append(
                file_line(sign_checkpoint(SIGNER, team, count, link.hash, T0)).rstrip("\n")
            )
    return lines


def broken(lines: list[str], trusted: TrustedKeys = TRUSTED) -> tuple[int, str]:
    with pytest.raises(ChainBroken) as caught:
        verify_lines(lines, trusted)
    return caught.value.index, caught.value.kind


def test_an_untouched_file_verifies() -> None:
    result = verify_lines(chain_lines(["a", "b", "a", "a", "b"], every=2), TRUSTED)
    assert {t: (s.records, s.checkpoints, s.signed) for t, s in result.teams.items()} == {
        "a": (3, 1, 2),
        "b": (2, 1, 2),
    }


LINES = chain_lines(["acme"] * 8)
Tamper = Callable[[list[str]], list[str]]


@pytest.mark.parametrize(
    ("tamper", "index", "kind"),
    [
        (lambda ls: audit_tamper.edit(ls, 4), 4, "changed"),
        (lambda ls: audit_tamper.edit(ls, 1), 1, "changed"),
        (lambda ls: audit_tamper.delete(ls, 4), 4, "removed"),
        (lambda ls: audit_tamper.delete(ls, 1), 1, "removed"),
        (lambda ls: audit_tamper.insert(ls, 6, ls[2]), 6, "inserted"),
        (lambda ls: audit_tamper.insert(ls, 4, ls[2]), 4, "inserted"),
        (lambda ls: audit_tamper.insert(ls, 4, '{"team_id":"acme","method":"GET"}'), 4, "inserted"),
        (lambda ls: audit_tamper.swap(ls, 3), 3, "reordered"),
        (lambda ls: audit_tamper.swap(ls, 7), 7, "reordered"),
        (lambda ls: audit_tamper.insert(ls, 5, "not json"), 5, "unreadable"),
    ],
)
def test_each_tampering_is_found_at_its_line(tamper: Tamper, index: int, kind: str) -> None:
    assert broken(tamper(LINES)) == (index, kind)


def test_a_record_changed_with_its_hash_recomputed_is_found_at_that_line() -> None:
    lines = list(LINES)
    entry = json.loads(lines[4])
    entry["target_url"] = "https://attacker.example/"
    stored = normalized(
        entry
        | {"request_headers": [(b"Content-Type", b"application/json")], "request_body": b'{"a":1}'}
    )
    link = Link.from_json(entry["chain"])
    entry["chain"]["hash"] = link_hash(link.prev, link.seq, stored).hex()
    lines[4] = json.dumps(entry)
    assert broken(lines) == (5, "changed")


def test_a_well_forged_insertion_is_found_at_its_line() -> None:
    # The forger links a new record after line 3 with a correct hash: line 5 (the real
    # record 4) then repeats the forgery's place and predecessor.
    prev = json.loads(LINES[2])["chain"]["hash"]
    stored = normalized(record(target_url="https://attacker.example/"))
    link = Link(4, bytes.fromhex(prev), link_hash(bytes.fromhex(prev), 4, stored))
    forged = file_line(Chained(stored, link)).rstrip("\n")
    assert broken(audit_tamper.insert(LINES, 4, forged)) == (4, "inserted")


def test_checkpoints_must_be_trusted_and_must_match() -> None:
    lines = chain_lines(
        ["acme"] * 6, every=3
    )  # records 1-3, checkpoint (line 4), 4-6, checkpoint (8)
    assert verify_lines(lines, TRUSTED).teams["acme"].signed == 6
    stranger = KeyRing.from_master_key(bytes(32)).audit_signer()
    assert broken(lines, TrustedKeys.of(stranger.public_key)) == (4, "checkpoint")
    # An earlier key the operator still trusts keeps its checkpoints valid.
    assert verify_lines(lines, TrustedKeys.of(stranger.public_key, SIGNER.public_key))
    # Records cut from the end, before a checkpoint that covers them.
    assert broken(audit_tamper.delete(lines, 7)) == (7, "removed")
    assert broken(audit_tamper.delete(audit_tamper.delete(lines, 7), 6)) == (6, "removed")
    # The file cut after record 5 still names the checkpoint over 6 that was shipped with it.
    assert broken([*lines[:6], lines[7]]) == (7, "removed")


def test_lines_from_before_the_chain_are_counted_but_none_may_follow_it() -> None:
    legacy = json.dumps({"team_id": "acme", "method": "GET"})
    assert verify_lines([legacy, *LINES], TRUSTED).unchained == 1
    assert broken([*LINES[:2], legacy, *LINES[2:]]) == (3, "inserted")


def _db_rows() -> list[tuple[dict[str, object], Link]]:
    rows = []
    for line in LINES:
        entry = json.loads(line)
        rows.append((entry, Link.from_json(entry.pop("chain"))))
    return rows


def test_database_rows_are_checked_by_position_with_their_checkpoints() -> None:
    from app.audit_record import parse_rendered

    rows = [(parse_rendered(e), link) for e, link in _db_rows()]
    checkpoint = sign_checkpoint(SIGNER, "acme", 8, rows[-1][1].hash, T0)
    chain = DatabaseChain("acme", [checkpoint], TRUSTED)
    for stored, link in rows:
        chain.row(stored, link)
    assert chain.finish().signed == 8
    # Two rows gone from the end: the checkpoint over 8 names the first missing position.
    short = DatabaseChain("acme", [checkpoint], TRUSTED)
    for stored, link in rows[:6]:
        short.row(stored, link)
    with pytest.raises(ChainBroken) as caught:
        short.finish()
    assert (caught.value.index, caught.value.kind) == (7, "removed")
