"""``tap key rotate``: replace the master key while the proxy keeps serving.

Env custody: the new key comes from ``TAP_ENCRYPTION_KEY_NEW`` or
``--new-key-file`` (64 hex characters; ``openssl rand -hex 32``); afterwards
``TAP_ENCRYPTION_KEY`` must be set to it before the next restart (running
proxies already use it). HSM custody: a new DEK is generated here and wrapped
inside the HSM; it replaces the stored one when the rotation ends.

The command prints ``re-sealed n / total`` as it goes. It can be stopped at any
point (Ctrl-C, a crash, kill -9): nothing is half-written, and running it again
resumes where it stopped. Once the new key is current, running it again with
the same new key does nothing (under HSM custody, where the key is made here,
each completed run is one rotation). :mod:`app.rotation` does the work.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Final

import asyncpg
import click

import enclave
from app.config import Config
from app.crypto import KeyRing, key_fingerprint
from app.errors import RotationError, WrongEncryptionKey
from app.rotation import BATCH_SIZE, Pending, begin, pending, reseal, retire, verify
from app.runtime import load_keys
from app.store import db, key_versions
from tools.cli.context import Access, open_database
from tools.cli.errors import CliError, exit_on_error
from tools.cli.run import settings

NEW_KEY_VARIABLE: Final = "TAP_ENCRYPTION_KEY_NEW"
EXIT_INTERRUPTED: Final = 130


@click.group("key")
def key_group() -> None:
    """The master key: rotate it online."""


@key_group.command("rotate")
@click.option(
    "--new-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"A file holding the new key (64 hex characters); default: ${NEW_KEY_VARIABLE}.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=BATCH_SIZE,
    show_default=True,
    help="Values re-sealed per transaction.",
)
def rotate(new_key_file: Path | None, batch_size: int) -> None:
    """Re-seal every sealed value under a new master key, then retire the old one.

    Resumable and idempotent: run it again after an interruption.
    """
    with exit_on_error():
        loaded = settings()
        config = loaded.custody_config(Access.WRITE)
        new_key = _new_key(new_key_file)

        async def go() -> None:
            async with open_database(loaded, Access.WRITE) as pool:
                await _rotate(config, pool, new_key, batch_size)

        try:
            asyncio.run(go())
        except KeyboardInterrupt:
            click.echo(
                "interrupted: every re-sealed value is committed and the old key still opens "
                "the rest; run `tap key rotate` again to resume",
                err=True,
            )
            raise SystemExit(EXIT_INTERRUPTED) from None


async def _rotate(config: Config, pool: asyncpg.Pool, new_key: bytes | None, batch: int) -> None:
    provider = enclave.load_key_provider(config)
    wrapper = provider if isinstance(provider, enclave.DekWrapper) else None
    if provider.name != "env" and wrapper is None:
        raise RotationError(f"key rotation is not available under {provider.name} custody yet")
    if wrapper is not None and new_key is not None:
        raise CliError(
            f"under {provider.name} custody the new key is generated and wrapped inside custody; "
            f"unset {NEW_KEY_VARIABLE} and drop --new-key-file"
        )
    keys = await _keys(config, pool, new_key)
    if keys is None:
        assert new_key is not None  # only a given new key can be found current
        click.echo(f"the key {key_fingerprint(new_key)} is already current; nothing to do")
        return
    rotation = await pending(pool, keys)
    if rotation is not None:
        wanted = rotation.keys.version(rotation.new).fingerprint
        if new_key is not None and key_fingerprint(new_key) != wanted:
            raise RotationError(
                f"a rotation to the key {wanted} is under way; give that key (or none) to resume it"
            )
        click.echo(f"resuming the rotation from key version {rotation.old} to {rotation.new}")
    elif (
        new_key is not None
        and key_fingerprint(new_key) == keys.version(keys.write_version).fingerprint
    ):
        click.echo(f"the key {key_fingerprint(new_key)} is already current; nothing to do")
        return
    else:
        rotation = await _begin(pool, keys, new_key, wrapper)
    await reseal(pool, rotation, _show_progress, batch_size=batch)
    verified = await verify(pool, rotation, batch_size=batch)
    click.echo(f"verified: all {verified} sealed values open under the new key alone")
    await retire(pool, rotation)
    old_print = rotation.keys.version(rotation.old).fingerprint
    new_print = rotation.keys.version(rotation.new).fingerprint
    click.echo(
        f"proof: no value is sealed under key version {rotation.old} any more; "
        f"key {old_print} is retired, key {new_print} (version {rotation.new}) is current"
    )
    if wrapper is None:
        click.echo(
            f"next: set TAP_ENCRYPTION_KEY to the new key (fingerprint {new_print}) before the "
            "next restart; running proxies already use it, and the old key is refused"
        )
    else:
        click.echo(f"the stored DEK is now {new_print}, wrapped under the same {provider.name} key")


async def _keys(config: Config, pool: asyncpg.Pool, new_key: bytes | None) -> KeyRing | None:
    """The ring of custody's key; ``None`` when custody's key is retired and ``new_key`` is current."""
    try:
        return await load_keys(config, pool)
    except WrongEncryptionKey as refused:
        if new_key is None:
            raise
        # Custody still yields the old key after a finished rotation: run again, nothing to do.
        try:
            async with db.connection(pool) as conn:
                ring = await key_versions.load_ring(conn, new_key)
        except WrongEncryptionKey:
            raise refused from None
        if len(ring.versions) > 1:
            return ring  # the rotation to new_key is under way; resume it
        return None


async def _begin(
    pool: asyncpg.Pool, keys: KeyRing, new_key: bytes | None, wrapper: enclave.DekWrapper | None
) -> Pending:
    if wrapper is not None:
        new_key = secrets.token_bytes(enclave.DEK_BYTES)
        wrapped: bytes | None = await wrapper.wrap_new_dek(new_key)
    elif new_key is None:
        raise CliError(
            f"no new key: set {NEW_KEY_VARIABLE} (generate one with `openssl rand -hex 32`) "
            "or give --new-key-file"
        )
    else:
        wrapped = None
    try:
        rotation = await begin(pool, keys, new_key, wrapped_dek=wrapped)
    finally:
        del new_key
    click.echo(
        f"rotating from key version {rotation.old} to {rotation.new} "
        f"(new key {rotation.keys.version(rotation.new).fingerprint})"
    )
    return rotation


def _show_progress(done: int, total: int) -> None:
    click.echo(f"re-sealed {done} / {total}")


def _new_key(path: Path | None) -> bytes | None:
    """The new key from the file or the environment (NOTE: never from argv). Raises CliError."""
    if path is not None:
        try:
            text = path.read_text()
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}") from None
        return _parse(text.strip(), f"the key file {path}")
    raw = os.environ.get(NEW_KEY_VARIABLE, "").strip()
    return _parse(raw, NEW_KEY_VARIABLE) if raw else None


def _parse(text: str, source: str) -> bytes:
    # NOTE: never echo the text; it is (almost) a key.
    if len(text) != 64:
        raise CliError(f"{source} must be 64 hex characters (32 bytes), got {len(text)}", 2)
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise CliError(f"{source} must be 64 hex characters; it has others", 2) from None
