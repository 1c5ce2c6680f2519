"""Password hashing with argon2id (PHC strings; parameters travel with each hash).

Hashing is deliberately slow, so it runs in a worker thread and never blocks
the event loop. :func:`verify` spends the same effort for an unknown account
as for a wrong password, so timing does not reveal which emails exist.
"""

from __future__ import annotations

import asyncio
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER: Final = PasswordHasher()  # argon2id with the library's current defaults
# A hash of a random string nobody knows, verified against when the account is unknown.
_DECOY: Final = _HASHER.hash("decoy password that matches nothing")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify(stored_hash: str | None, password: str) -> bool:
    """True only if ``password`` matches ``stored_hash``; None means "no such account"."""

    def check() -> bool:
        try:
            return _HASHER.verify(stored_hash or _DECOY, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)
