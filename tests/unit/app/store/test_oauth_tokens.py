"""A sealed access token opens only in its own slot: never as a credential value, never elsewhere."""

from __future__ import annotations

import pytest

from app.crypto import AAD_CREDENTIAL, AAD_OAUTH2_TOKEN, KeyRing
from app.errors import CryptoError
from app.store.oauth_tokens import value_digest

KEYS = KeyRing.from_master_key(bytes(range(32)))


def _seal_token(team: str, name: str) -> bytes:
    return KEYS.seal_row(b"at_token", purpose=AAD_OAUTH2_TOKEN, parts=(team, name), key_version=1)


def test_a_token_opens_in_its_slot() -> None:
    blob = _seal_token("t1", "svc")

    opened = KEYS.unseal_row(blob, purpose=AAD_OAUTH2_TOKEN, parts=("t1", "svc"), key_version=1)
    assert opened == b"at_token"


@pytest.mark.parametrize(
    ("purpose", "team", "name"),
    [
        (AAD_CREDENTIAL, "t1", "svc"),  # as the credential's own value
        (AAD_OAUTH2_TOKEN, "t2", "svc"),  # another team's token slot
        (AAD_OAUTH2_TOKEN, "t1", "other"),  # another credential's token slot
    ],
)
def test_a_token_opens_nowhere_else(purpose: bytes, team: str, name: str) -> None:
    with pytest.raises(CryptoError):
        KEYS.unseal_row(_seal_token("t1", "svc"), purpose=purpose, parts=(team, name), key_version=1)


def test_a_credential_value_does_not_open_as_a_token() -> None:
    value = KEYS.seal_credential("{}", team_id="t1", name="svc", key_version=1)

    with pytest.raises(CryptoError):
        KEYS.unseal_row(value, purpose=AAD_OAUTH2_TOKEN, parts=("t1", "svc"), key_version=1)


def test_the_value_digest_changes_with_the_value() -> None:
    assert value_digest(b"a") != value_digest(b"b")
