"""``tap enclave ...``: operator commands for enclave key custody.

- ``fingerprint`` prints the fingerprint of the key custody yields now (and of
  the stored wrapped DEK, if any, with its origin: generated inside the
  enclave or migrated in from an env key), so two deployments can be compared.
- ``migrate-from-env`` moves an env-key deployment into enclave custody: it
  wraps the current master key, unchanged, as the DEK under a KEK's public key
  and stores it write-once. Credentials are not re-encrypted.
- ``rewrap-dek`` re-wraps the DEK under a new KEK (KEK rotation). It needs
  only the new KEK's **public** JWK and refuses one with a private member. It
  prints the old and new fingerprints, which must match, writes the new record
  to stdout, and with ``--install`` replaces the stored record in one
  compare-and-swap.
- ``hsm-init`` creates HSM custody's wrapping key in the token, and
  ``hsm-migrate-from-env`` wraps the current env master key, unchanged, as the
  DEK inside the HSM (:mod:`enclave.hsm` does the work).

The Azure-specific code is imported inside the commands, so ``tap`` itself
loads none of it. Errors end as one line on stderr and exit 1 (2 for a bad
setting); ``--verbose`` on ``tap`` adds the traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Final, TypeVar

import asyncpg
import click

import enclave
from app.config import Config, Pkcs11Settings
from app.runtime import load_keys
from app.store import custody, db
from tools.cli.context import Access, Settings, open_database
from tools.cli.errors import exit_on_error
from tools.cli.run import settings

T = TypeVar("T")

MAX_JWK_FILE_BYTES: Final = 64 * 1024


# NOTE: the one write that is not write-once: a KEK rotation swaps the record,
# and only if it is still the record the DEK was read from (compare-and-swap).
# It belongs in app/store/custody.py; it is here until that module offers it.
def _run(action: Callable[[Settings, Config], Coroutine[Any, Any, T]]) -> T:
    """Run ``action`` with the settings and custody config; errors become one line and an exit code."""
    with exit_on_error():
        loaded = settings()
        return asyncio.run(action(loaded, loaded.custody_config(Access.WRITE)))
    raise AssertionError("unreachable")


async def _master_key(config: Config, pool: asyncpg.Pool) -> bytes:
    """The master key through custody, checked against the database canary."""
    keys = await load_keys(config, pool)
    store = custody.PostgresWrappedKeyStore(pool)
    master = await enclave.load_key_provider(config).master_key(store)
    if enclave.dek_fingerprint(master) != keys.fingerprint:
        raise enclave.CustodyError("dek.fingerprint", "custody yielded two different keys")
    return master


def _read_public_jwk(path: Path) -> dict[str, Any]:
    from enclave.azure import jwk_object

    try:
        if path.stat().st_size > MAX_JWK_FILE_BYTES:
            raise enclave.CustodyError("kek.public", f"{path} is larger than a JWK can be")
        data = json.loads(path.read_text())
    except OSError as exc:
        raise enclave.CustodyError("kek.public", f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise enclave.CustodyError("kek.public", f"{path} is not JSON") from None
    # A Key Vault "get key" answer wraps the JWK in {"key": {...}}.
    if isinstance(data, dict) and isinstance(data.get("key"), dict):
        data = data["key"]
    return jwk_object(data, step="kek.public")


def _new_record(master: bytes, jwk_file: Path, kek_id: str | None) -> Any:
    from enclave.azure import parse_key_id, public_key_from_jwk, wrap_dek

    jwk = _read_public_jwk(jwk_file)
    public = public_key_from_jwk(jwk, step="kek.public")
    kid = kek_id or jwk.get("kid")
    if not isinstance(kid, str):
        raise enclave.CustodyError(
            "kek.public", "give --kek-id https://<vault>/keys/<name>/<version> (the JWK has no kid)"
        )
    from urllib.parse import urlsplit

    parse_key_id(kid, akv_host=urlsplit(kid).netloc.lower())
    return wrap_dek(master, public, kid=kid)


@click.group("enclave")
def enclave_group() -> None:
    """Key custody: fingerprints, migration into SKR or HSM custody, KEK rotation."""


@enclave_group.command("fingerprint")
def fingerprint_command() -> None:
    """Print the fingerprint of the key custody yields (and of the stored wrapped DEK)."""

    async def go(loaded: Settings, config: Config) -> None:
        async with open_database(loaded, Access.READ) as pool:
            keys = await load_keys(config, pool)
            click.echo(f"key fingerprint: {keys.fingerprint}")
            store = custody.PostgresWrappedKeyStore(pool)
            raw = await store.get_wrapped_key()
            if raw is not None and config.hsm:
                from enclave.hsm import HsmWrappedDek

                hsm_record = HsmWrappedDek.from_bytes(raw)
                click.echo(
                    f"stored DEK: fingerprint {hsm_record.fingerprint}, wrapped under HSM key "
                    f"{hsm_record.kek!r}"
                )
            elif raw is not None:
                from enclave.azure import WrappedDek

                record = WrappedDek.from_bytes(raw)
                origin = await store.get_dek_origin()
                click.echo(
                    f"stored DEK: fingerprint {record.fingerprint}, wrapped under {record.kid}"
                )
                click.echo(
                    f"DEK origin: {origin or 'unknown (stored before origins were recorded)'}"
                )

    _run(go)


_JWK_OPTION = click.option(
    "--kek-public-jwk",
    "jwk_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The KEK's PUBLIC key as a JWK file (or a Key Vault 'get key' answer).",
)
_KID_OPTION = click.option(
    "--kek-id",
    default=None,
    help="The versioned key id https://<vault>/keys/<name>/<version> (default: the JWK's kid).",
)


@enclave_group.command("migrate-from-env")
@_JWK_OPTION
@_KID_OPTION
def migrate_from_env_command(jwk_file: Path, kek_id: str | None) -> None:
    """Wrap the current env master key as the DEK under a KEK and store it (write-once).

    Run it with the env key still configured (TAP_ENCRYPTION_KEY), before switching the
    deployment to TAP_FEATURES=enclave. Credentials are not re-encrypted.
    """

    async def go(loaded: Settings, config: Config) -> None:
        if config.enclave:
            raise enclave.CustodyError(
                "migrate", "run migrate-from-env with the env key, not in enclave mode"
            )
        async with open_database(loaded, Access.WRITE) as pool:
            master = await _master_key(config, pool)
            record = _new_record(master, jwk_file, kek_id)
            stored = await custody.PostgresWrappedKeyStore(pool).insert_wrapped_key_once(
                record.to_bytes(), origin=enclave.DEK_MIGRATED
            )
            if stored != record.to_bytes():
                from enclave.azure import WrappedDek

                existing = WrappedDek.from_bytes(stored)
                raise enclave.CustodyError(
                    "migrate",
                    f"a wrapped DEK is already stored (fingerprint {existing.fingerprint}, "
                    f"under {existing.kid}); use rewrap-dek to change its KEK",
                )
        click.echo(f"DEK fingerprint {record.fingerprint} stored, wrapped under {record.kid}")
        click.echo(
            "next: set TAP_FEATURES=enclave and TAP_SKR_KEY_ID to that key id, and remove "
            "TAP_ENCRYPTION_KEY",
            err=True,
        )

    _run(go)


@enclave_group.command("rewrap-dek")
@_JWK_OPTION
@_KID_OPTION
@click.option("--install", is_flag=True, help="Replace the stored record (compare-and-swap).")
def rewrap_dek_command(jwk_file: Path, kek_id: str | None, install: bool) -> None:
    """Re-wrap the DEK under a new KEK, given only the new KEK's public JWK.

    Prints the old and new fingerprints (stderr) and the new record (stdout).
    """

    async def go(loaded: Settings, config: Config) -> None:
        from enclave.azure import WrappedDek

        async with open_database(loaded, Access.WRITE) as pool:
            store = custody.PostgresWrappedKeyStore(pool)
            old_raw = await store.get_wrapped_key()
            master = await _master_key(config, pool)
            old = enclave.dek_fingerprint(master)
            record = _new_record(master, jwk_file, kek_id)
            del master
            click.echo(f"old fingerprint: {old}", err=True)
            click.echo(f"new fingerprint: {record.fingerprint}", err=True)
            if old_raw is not None and WrappedDek.from_bytes(old_raw).fingerprint != old:
                raise enclave.CustodyError("rewrap", "the stored record names another DEK")
            if record.fingerprint != old:
                raise enclave.CustodyError("rewrap", "the fingerprints differ; nothing was changed")
            if install:
                if old_raw is None:
                    raise enclave.CustodyError("rewrap", "no wrapped DEK is stored to replace")
                async with db.connection(pool) as conn:
                    swapped = await custody.replace_wrapped_key(conn, old_raw, record.to_bytes())
                if not swapped:
                    raise enclave.CustodyError(
                        "rewrap", "the stored record changed meanwhile; nothing was replaced"
                    )
                click.echo(f"installed: the DEK is now wrapped under {record.kid}", err=True)
        click.echo(record.to_bytes().decode())

    _run(go)


def _hsm_config(config: Config) -> Config:
    if not config.hsm:
        raise enclave.CustodyError(
            "hsm.settings", "set TAP_PKCS11_MODULE (and the other TAP_PKCS11_* settings) first"
        )
    return config


@enclave_group.command("hsm-init")
def hsm_init_command() -> None:
    """Create HSM custody's wrapping key (AES-256, sensitive, never extractable) in the token."""

    async def go(loaded: Settings, config: Config) -> None:
        from enclave.hsm import create_wrapping_key

        target = await create_wrapping_key(_hsm_config(config).pkcs11)
        click.echo(f"created wrapping key {target.key_label!r} on token {target.token_label!r}")

    _run(go)


@enclave_group.command("hsm-migrate-from-env")
@click.option(
    "--env-key-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file holding the current TAP_ENCRYPTION_KEY (64 hex characters).",
)
def hsm_migrate_from_env_command(env_key_file: Path) -> None:
    """Wrap the current env master key as the DEK inside the HSM and store it (write-once).

    Run it with the TAP_PKCS11_* settings of the new deployment; the env key is read from
    --env-key-file and checked against the database first. Credentials are not re-encrypted.
    """

    async def go(loaded: Settings, config: Config) -> None:
        from enclave.hsm import load_hsm_provider

        provider = load_hsm_provider(_hsm_config(config).pkcs11)
        env_config = dataclasses.replace(
            config, pkcs11=Pkcs11Settings(), encryption_key=None, encryption_key_file=env_key_file
        )
        async with open_database(loaded, Access.WRITE) as pool:
            master = await _master_key(env_config, pool)
            try:
                record = await provider.install(custody.PostgresWrappedKeyStore(pool), master)
            finally:
                del master
        click.echo(
            f"DEK fingerprint {record.fingerprint} stored, wrapped under HSM key {record.kek!r}"
        )
        click.echo("next: remove TAP_ENCRYPTION_KEY and start TAP with TAP_PKCS11_*", err=True)

    _run(go)
