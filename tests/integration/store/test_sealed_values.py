"""Credential values at rest: ciphertext only, bound to their row, under the right key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.crypto import KeyRing
from app.errors import CryptoError, WrongEncryptionKey
from app.secret import Secret
from app.store import credentials, custody, teams
from app.store.migrate import migrate

SECRET = "sk-live-very-secret-value-123"


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    await migrate(connection)
    await teams.ensure_team(connection, "t1", "team-one")
    await teams.ensure_team(connection, "t2", "team-two")
    yield connection
    await connection.close()


KEYS = KeyRing.from_master_key(bytes(range(32)))


async def test_stored_bytes_are_ciphertext(conn: asyncpg.Connection) -> None:
    await credentials.create(conn, KEYS, team_id="t1", name="stripe", value=Secret(SECRET))
    raw = await conn.fetchval(
        "SELECT sealed_value FROM credentials WHERE team_id = 't1' AND name = 'stripe'"
    )
    assert SECRET.encode() not in raw
    dump = str(await conn.fetch("SELECT * FROM credentials"))
    assert SECRET not in dump
    cred = await credentials.get(conn, "t1", "stripe")
    assert cred.value_hint == "sk***23"
    opened = credentials.open_value(KEYS, cred)
    assert opened is not None and opened.reveal() == SECRET


async def test_ciphertext_moved_to_another_row_does_not_open(conn: asyncpg.Connection) -> None:
    await credentials.create(conn, KEYS, team_id="t1", name="stripe", value=Secret(SECRET))
    await credentials.create(
        conn, KEYS, team_id="t2", name="stripe", value=Secret("other-team-value-xyz")
    )
    await credentials.create(
        conn, KEYS, team_id="t1", name="github", value=Secret("ghp-value-abcdefgh")
    )
    # An attacker with write access to the table copies t1/stripe's ciphertext.
    await conn.execute(
        "UPDATE credentials SET sealed_value = (SELECT sealed_value FROM credentials WHERE team_id='t1' AND name='stripe')"
        " WHERE (team_id, name) IN (('t2', 'stripe'), ('t1', 'github'))"
    )
    for team_id, name in (("t2", "stripe"), ("t1", "github")):
        with pytest.raises(CryptoError):
            credentials.open_value(KEYS, await credentials.get(conn, team_id, name))


async def test_wrong_key_is_detected_by_the_canary(conn: asyncpg.Connection) -> None:
    await custody.check_or_create_canary(conn, KEYS)
    await custody.check_or_create_canary(conn, KEYS)  # the same key passes again
    with pytest.raises(WrongEncryptionKey, match="does not match"):
        await custody.check_or_create_canary(conn, KeyRing.from_master_key(bytes(32)))


async def test_sealed_data_without_canary_is_refused(conn: asyncpg.Connection) -> None:
    await credentials.create(conn, KEYS, team_id="t1", name="stripe", value=Secret(SECRET))
    with pytest.raises(WrongEncryptionKey, match="no key canary"):
        await custody.check_or_create_canary(conn, KEYS)


async def test_json_values_are_normalised(conn: asyncpg.Connection) -> None:
    await credentials.create(
        conn, KEYS, team_id="t1", name="dd", value=Secret('{ "b": "2", "a": "1" }')
    )
    cred = await credentials.get(conn, "t1", "dd")
    opened = credentials.open_value(KEYS, cred)
    assert opened is not None and opened.reveal() == '{"a":"1","b":"2"}'
    assert cred.value_hint == "{a, b}"
