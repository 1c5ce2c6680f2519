"""A sealed access token opens only in its own slot: never as a credential value, never elsewhere."""

from __future__ import annotations

import pytest

from app.crypto import KeyRing
from app.errors import CryptoError
from app.store.oauth_tokens import token_aad_name, value_digest

KEYS = KeyRing.from_master_key(bytes(range(32)))


def _seal_token(team: str, name: str) -> bytes:
    return KEYS.seal_credential("at_token", team_id=team, name=token_aad_name(name), key_version=1)


def test_a_token_opens_in_its_slot() -> None:
    blob = _seal_token("t1", "svc")

    assert (
        KEYS.unseal_credential(blob, team_id="t1", name=token_aad_name("svc"), key_version=1)
        == "at_token"
    )


@pytest.mark.parametrize(
    ("team", "name"),
    [
        ("t1", "svc"),  # as the credential's own value
        ("t2", token_aad_name("svc")),  # another team's token slot
        ("t1", token_aad_name("other")),  # another credential's token slot
    ],
)
def test_a_token_opens_nowhere_else(team: str, name: str) -> None:
    with pytest.raises(CryptoError):
        KEYS.unseal_credential(_seal_token("t1", "svc"), team_id=team, name=name, key_version=1)


def test_a_credential_value_does_not_open_as_a_token() -> None:
    value = KEYS.seal_credential("{}", team_id="t1", name="svc", key_version=1)

    with pytest.raises(CryptoError):
        KEYS.unseal_credential(value, team_id="t1", name=token_aad_name("svc"), key_version=1)


def test_the_value_digest_changes_with_the_value() -> None:
    assert value_digest(b"a") != value_digest(b"b")
