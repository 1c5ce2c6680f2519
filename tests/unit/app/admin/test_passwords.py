from __future__ import annotations

from app.admin import passwords


async def test_hash_and_verify() -> None:
    stored = await passwords.hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert await passwords.verify(stored, "correct horse")
    assert not await passwords.verify(stored, "wrong horse")
    assert not await passwords.verify(None, "correct horse")
    assert not await passwords.verify("not a hash", "correct horse")
