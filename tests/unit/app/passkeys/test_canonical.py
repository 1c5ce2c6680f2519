"""The canonical request: one spelling per request, and only that spelling parses."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from app.errors import EvidenceInvalid
from app.passkeys.canonical import CanonicalRequest, timestamp

REQUEST = CanonicalRequest(
    txn_id="5b0c1c9e-6e0f-4a8f-9a55-1f5e2f0f7d11",
    team_id="team_1",
    agent_id="bot",
    credential="github",
    method="POST",
    target_url="https://api.github.com/repos/acme/app/issues?x=ü",
    body_sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    approver="ops@example.com",
    expires_at="2026-11-29T15:00:00Z",
    nonce="AAECAwQFBgcICQoLDA0ODw",
)
# Known answer: sorted keys, no whitespace, UTF-8 as is (RFC 8785).
EXPECTED = (
    '{"agent_id":"bot","approver":"ops@example.com",'
    '"body_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",'
    '"credential":"github","expires_at":"2026-11-29T15:00:00Z","method":"POST",'
    '"nonce":"AAECAwQFBgcICQoLDA0ODw","target_url":"https://api.github.com/repos/acme/app/issues?x=ü",'
    '"team_id":"team_1","txn_id":"5b0c1c9e-6e0f-4a8f-9a55-1f5e2f0f7d11","v":1}'
)


def test_known_answer() -> None:
    assert REQUEST.text() == EXPECTED
    assert REQUEST.challenge() == hashlib.sha256(EXPECTED.encode()).digest()
    assert CanonicalRequest.parse(EXPECTED) == REQUEST


@pytest.mark.parametrize(
    "text",
    [
        EXPECTED.replace(",", ", "),  # whitespace
        EXPECTED.replace('"v":1', '"v":2'),  # another version
        EXPECTED.replace('"v":1', '"v":true'),  # a boolean is not a version
        EXPECTED.replace('"v":1', '"v":1,"extra":"x"'),  # a member too many
        EXPECTED.replace('"method":"POST",', ""),  # a member missing
        EXPECTED.replace('"method":"POST"', '"method":["POST"]'),  # wrong type
        '{"v":1,' + EXPECTED[1:-6] + "}",  # keys out of order
        "not json",
        "[]",
    ],
)
def test_other_spellings_are_refused(text: str) -> None:
    with pytest.raises(EvidenceInvalid) as refused:
        CanonicalRequest.parse(text)
    assert refused.value.check == "canonical_form"


def test_timestamps_have_one_spelling() -> None:
    moment = dt.datetime(2026, 11, 29, 16, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert timestamp(moment) == "2026-11-29T15:00:00Z"
