"""The access token of an OAuth 2 credential: cached, refreshed once, shared by every request.

Three layers, cheapest first:

1. the worker's memory (``rt.oauth2_tokens``, a team cache dropped whenever
   any replica changes the team, so a rotated or replaced value is never
   served from here for long);
2. the ``oauth2_tokens`` row (one read), used while it was obtained with the
   credential's current value and is not due for refresh;
3. a refresh: under the credential's advisory lock
   (:func:`app.store.oauth_tokens.lock_refresh`) the row is read again (another
   replica may have just refreshed it: then that token is used), else the
   token endpoint is asked and the new token, and a rotated refresh token,
   are committed in one transaction.

Inside one worker, concurrent requests for the same credential share one
refresh (``rt.oauth2_refreshing``) instead of each queueing on the lock with a
pooled connection; across replicas, the advisory lock makes the others wait
for the first and then read its result.

After a refused or failed refresh, requests for the same stored value get the
same 502 without asking the endpoint again for a while (:mod:`app.oauth2.backoff`).

A token is due for refresh :data:`REFRESH_MARGIN_SECS` before it expires (or
half-way through a shorter life). After an upstream 401, :func:`refresh_after_rejection`
replaces the token that was rejected, unless another request already has.

Usage::

    token = await current_token(rt, credential)
    token = await refresh_after_rejection(rt, credential, rejected=token.value)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from app.errors import (
    CredentialMisconfigured,
    CredentialNotConfigured,
    CredentialUnreadable,
    CryptoError,
    OAuthRefreshFailed,
)
from app.oauth2.bundle import Bundle
from app.oauth2.token_endpoint import request_token
from app.secret import Secret, SecretPairs
from app.store import credentials as credentials_store
from app.store import db, oauth_tokens
from app.store.models import Credential

if TYPE_CHECKING:
    from app.runtime import Runtime

logger = logging.getLogger(__name__)

REFRESH_MARGIN_SECS: Final = 60.0
"""Refresh this long before a token expires, so no request carries one that dies in flight."""
DEFAULT_LIFETIME_SECS: Final = 3600.0
"""Assumed lifetime when the endpoint gives no ``expires_in`` (a 401 still triggers a refresh)."""


@dataclass(frozen=True, slots=True, repr=False)
class AccessToken:
    """A usable access token and when to stop using it. Its ``repr`` shows no secret."""

    value: Secret
    refresh_at: dt.datetime
    bundle_secrets: SecretPairs = SecretPairs()
    """The client secret and refresh token of the value this token was obtained with.

    NOTE: after a rotation these are newer than the value a request loaded
    from its (possibly cached) configuration; the sanitizer scrubs both.
    """

    def fresh(self, now: dt.datetime) -> bool:
        return now < self.refresh_at

    def __repr__(self) -> str:
        return f"AccessToken(value={self.value!r}, refresh_at={self.refresh_at.isoformat()!r})"


def secret_pairs(credential: Credential, value: Secret) -> list[tuple[str, str]]:
    """What to scrub for an oauth2 credential's stored value (client secret, refresh token).

    A value that is not a valid bundle is scrubbed whole, as any value is.
    """
    try:
        bundle = Bundle.from_stored(value.reveal(), credential=credential.name)
    except CredentialMisconfigured:
        return [(credential.name, value.reveal())]
    return [(credential.name, value.reveal()), *bundle.secret_pairs(credential.name)]


async def current_token(rt: Runtime, credential: Credential) -> AccessToken:
    """A token that is not due for refresh, from the cheapest layer that has one.

    Raises:
        OAuthRefreshFailed: a refresh was needed and the token endpoint refused it.
        CredentialNotConfigured, CredentialUnreadable, CredentialMisconfigured:
            the stored value is missing, does not open, or is not a bundle.
    """
    key = (credential.team_id, credential.name)
    cached: AccessToken | None = rt.oauth2_tokens.get(key)
    if cached is not None and cached.fresh(_now()):
        return cached
    stored = await _stored_token(rt, credential)
    if stored is not None:
        rt.oauth2_tokens.put(key, credential.team_id, stored)
        return stored
    return await _shared_refresh(rt, credential, rejected=None)


async def refresh_after_rejection(
    rt: Runtime, credential: Credential, *, rejected: Secret
) -> AccessToken:
    """A token other than ``rejected`` (which an upstream answered 401 to).

    If another request or replica replaced it already, that token is used;
    otherwise it is refreshed now. Raises as :func:`current_token`.
    """
    key = (credential.team_id, credential.name)
    cached: AccessToken | None = rt.oauth2_tokens.get(key)
    if cached is not None and cached.value != rejected and cached.fresh(_now()):
        return cached
    return await _shared_refresh(rt, credential, rejected=rejected)


async def verify(rt: Runtime, credential: Credential) -> AccessToken:
    """Obtain a new token now (the admin's verify): proves the grant still works. Raises as above."""
    return await _shared_refresh(rt, credential, rejected=None, force=True)


# -- internals -----------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _refresh_at(obtained_at: dt.datetime, expires_at: dt.datetime) -> dt.datetime:
    lifetime = (expires_at - obtained_at).total_seconds()
    margin = min(REFRESH_MARGIN_SECS, max(lifetime, 0.0) / 2)
    return expires_at - dt.timedelta(seconds=margin)


def _open_bundle(rt: Runtime, credential: Credential, sealed: bytes, key_version: int) -> Bundle:
    try:
        raw = rt.keys.unseal_credential(
            sealed, team_id=credential.team_id, name=credential.name, key_version=key_version
        )
    except CryptoError:
        raise CredentialUnreadable(f"Credential '{credential.name}' cannot be decrypted.") from None
    return Bundle.from_stored(raw, credential=credential.name)


def _usable(
    stored: oauth_tokens.StoredToken | None,
    digest: bytes,
    rejected: Secret | None,
    bundle: Callable[[], Bundle],
    name: str,
) -> AccessToken | None:
    """The stored token if it goes with the value of ``digest``, is not ``rejected`` and is fresh.

    ``bundle`` opens that value, only once the token is known to be usable.
    """
    if stored is None or stored.source_digest != digest:
        return None
    if rejected is not None and stored.access_token == rejected:
        return None
    refresh_at = _refresh_at(stored.obtained_at, stored.expires_at)
    if not _now() < refresh_at:
        return None
    return AccessToken(stored.access_token, refresh_at, SecretPairs(bundle().secret_pairs(name)))


async def _stored_token(rt: Runtime, credential: Credential) -> AccessToken | None:
    sealed = credential.sealed_value
    if sealed is None:
        return None
    async with db.connection(rt.pool) as conn:
        stored = await oauth_tokens.load(conn, rt.keys, credential.team_id, credential.name)
    return _usable(
        stored,
        oauth_tokens.value_digest(sealed),
        None,
        lambda: _open_bundle(rt, credential, sealed, credential.key_version),
        credential.name,
    )


async def _shared_refresh(
    rt: Runtime, credential: Credential, *, rejected: Secret | None, force: bool = False
) -> AccessToken:
    """Join the worker's refresh of this credential, or start one."""
    key = (credential.team_id, credential.name)
    if not force and credential.sealed_value is not None:
        rt.oauth2_backoff.check(key, oauth_tokens.value_digest(credential.sealed_value))
    running = rt.oauth2_refreshing.get(key)
    if running is not None and not force:
        token: AccessToken = await asyncio.shield(running)
        if rejected is None or token.value != rejected:
            return token
    task = asyncio.ensure_future(_refresh(rt, credential, rejected=rejected, force=force))
    rt.oauth2_refreshing[key] = task

    def forget(done: asyncio.Future[AccessToken]) -> None:
        if rt.oauth2_refreshing.get(key) is done:
            del rt.oauth2_refreshing[key]
        if not done.cancelled():
            done.exception()  # retrieved here so an unawaited failure is never logged as lost

    task.add_done_callback(forget)
    # NOTE: shielded, so one waiting request that is cancelled (its client went
    # away) does not cancel the refresh the others are waiting on.
    return await asyncio.shield(task)


async def _refresh(
    rt: Runtime, credential: Credential, *, rejected: Secret | None, force: bool
) -> AccessToken:
    team_id, name = credential.team_id, credential.name
    assert rt.http is not None
    async with db.transaction(rt.pool) as conn:
        await oauth_tokens.lock_refresh(conn, team_id, name)
        current = await oauth_tokens.credential_value_for_update(conn, team_id, name)
        if current is None:
            raise CredentialNotConfigured(
                f"Credential '{name}' value not configured.", credential=name
            )
        sealed, key_version = current
        bundle = _open_bundle(rt, credential, sealed, key_version)
        digest = oauth_tokens.value_digest(sealed)
        if not force:
            # Another worker or replica may have refreshed while this one waited for the lock.
            stored = await oauth_tokens.load(conn, rt.keys, team_id, name)
            found = _usable(stored, digest, rejected, lambda: bundle, name)
            if found is not None:
                rt.oauth2_tokens.put((team_id, name), team_id, found)
                rt.oauth2_backoff.succeeded((team_id, name))
                return found
        try:
            issued = await request_token(
                rt.http, bundle, credential, allow_private=rt.config.allow_private_targets
            )
        except OAuthRefreshFailed as exc:
            rt.oauth2_backoff.failed((team_id, name), digest, exc)
            raise
        if (
            issued.refresh_token is not None
            and bundle.refresh_token is not None
            and issued.refresh_token != bundle.refresh_token
        ):
            # RFC 6749 §6: the old refresh token may be dead now. The new one is
            # committed with the access token, or neither is.
            bundle = bundle.with_refresh_token(issued.refresh_token)
            await credentials_store.set_value(
                conn, rt.keys, team_id, name, Secret(bundle.canonical())
            )
            current = await oauth_tokens.credential_value_for_update(conn, team_id, name)
            assert current is not None
            digest = oauth_tokens.value_digest(current[0])
            logger.info("credential %s: the token endpoint rotated the refresh token", name)
        obtained = _now()
        lifetime = issued.expires_in_secs or DEFAULT_LIFETIME_SECS
        expires = obtained + dt.timedelta(seconds=lifetime)
        await oauth_tokens.save(
            conn,
            rt.keys,
            team_id=team_id,
            name=name,
            key_version=key_version,
            access_token=issued.access_token,
            source_digest=digest,
            obtained_at=obtained,
            expires_at=expires,
        )
    token = AccessToken(
        issued.access_token, _refresh_at(obtained, expires), SecretPairs(bundle.secret_pairs(name))
    )
    rt.oauth2_tokens.put((team_id, name), team_id, token)
    rt.oauth2_backoff.succeeded((team_id, name))
    logger.info("credential %s: obtained an access token (%s grant)", name, bundle.grant)
    return token
