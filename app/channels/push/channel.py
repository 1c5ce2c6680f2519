"""The dashboard's web push channel: tell eligible members' browsers about a pending request.

Only members who may decide the request (:mod:`app.approvals.eligibility`)
get it, so a request's summary never reaches someone who cannot act on it.
Best effort per browser: a subscription the push service calls gone (404/410)
is deleted, any other failure is logged and the subscription kept. There is
no message to update afterwards (the notification's click opens the approve
page, which shows the current state).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import ClassVar, Final

import aiohttp
import asyncpg

from app.approvals import eligibility
from app.channels.base import ChannelDeps, MessageRef, Notice, Outcome
from app.channels.push import webpush
from app.config import Config
from app.store import db, members, push_subscriptions
from app.store.db import Conn
from app.store.push_subscriptions import PushSubscription

logger = logging.getLogger(__name__)

KIND: Final = "push"
TITLE: Final = "Approval needed"
MIN_TTL_SECS: Final = 60
MAX_TTL_SECS: Final = 24 * 3600


def wired(config: Config) -> bool:
    return config.vapid_private_key is not None and config.vapid_public_key is not None


def payload(notice: Notice) -> bytes:
    """What the service worker shows: title, one line, and where a click goes."""
    if notice.test:
        return json.dumps(
            {
                "title": "TAP test notification",
                "body": "Push notifications work.",
                "url": "/dashboard",
            }
        ).encode()
    line = f"{notice.method} {notice.target_url} via {notice.credential_name} ({notice.agent_id})"
    return json.dumps(
        {
            "title": TITLE,
            "body": line[:300],
            "txn_id": str(notice.txn_id),
            "url": f"/approve/txn/{notice.txn_id}",
        }
    ).encode()


class PushChannel:
    kind: ClassVar[str] = KIND

    def __init__(self, deps: ChannelDeps) -> None:
        key = deps.config.vapid_private_key
        assert key is not None
        self._pool: asyncpg.Pool = deps.pool
        self._http: aiohttp.ClientSession = deps.guarded_http
        self._signer = webpush.Signer(private_key=key, subject=deps.config.vapid_subject)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def deliver(self, notice: Notice) -> MessageRef | None:
        async with db.connection(self._pool) as conn:
            targets = await self._recipients(conn, notice)
        remaining = (notice.expires_at - dt.datetime.now(dt.UTC)).total_seconds()
        ttl = int(min(max(remaining, MIN_TTL_SECS), MAX_TTL_SECS))
        body = payload(notice)
        sent = 0
        for subscription in targets:
            try:
                await webpush.send(
                    self._http,
                    self._signer,
                    endpoint=subscription.endpoint,
                    p256dh=subscription.p256dh,
                    auth=subscription.auth,
                    payload=body,
                    ttl_secs=ttl,
                )
                sent += 1
            except webpush.PushRefused as exc:
                logger.warning(
                    "push to user %s failed: %s%s",
                    subscription.user_id,
                    exc,
                    "; subscription removed" if exc.gone else "",
                )
                if exc.gone:
                    async with db.connection(self._pool) as conn:
                        await push_subscriptions.forget(conn, subscription.endpoint)
        logger.info(
            "push for request %s sent to %d of %d browsers", notice.txn_id, sent, len(targets)
        )
        return None

    async def resolve(self, ref: MessageRef, outcome: Outcome) -> None:
        return None

    async def _recipients(self, conn: Conn, notice: Notice) -> list[PushSubscription]:
        subscriptions = await push_subscriptions.for_team(conn, notice.team_id)
        chosen: list[PushSubscription] = []
        for subscription in subscriptions:
            member = await members.by_user(conn, notice.team_id, subscription.user_id)
            if member is None:
                continue
            if notice.test or await eligibility.may_decide(
                conn,
                team_id=notice.team_id,
                user_id=member.user_id,
                email=member.email,
                role=member.member_role,
                credential_names=notice.credential_names,
                allowed_approvers=notice.allowed_approvers,
            ):
                chosen.append(subscription)
        return chosen
