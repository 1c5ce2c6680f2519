"""Forward approved requests exactly once, and close the ones nobody decided.

Every worker runs one executor. It wakes on ``NOTIFY tap_approvals`` (sent in
the transaction that approves or denies, received through the worker's shared
:class:`~app.listener.Listener`) and also sweeps every second, so a missed
notification or a restart delays a request by at most that long. An approved
row is *claimed* with a conditional UPDATE (``approved -> forwarding``); only
one worker on one replica can win it, so the upstream sees the request once.

The forward runs the stages of a fresh request that depend on the present,
the same code, in the mode stored with the request (never re-guessed): the
agent must still be enabled, access is checked again, placeholders must stand
where secrets may, the target and SSRF checks run again, and the current
credential value is injected. The body must still hash to what was approved.

Pending rows past their deadline become ``expired`` (fail closed) and are
audited as timed out; denials are audited once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
import uuid
from typing import Final

import asyncpg

from app.approvals.decisions import NOTIFY_CHANNEL
from app.audit import now_iso
from app.errors import ProxyError, TapError, Unauthorized
from app.passkeys.canonical import CanonicalRequest
from app.passkeys.evidence import PasskeyVote, digest
from app.proxy import pipeline
from app.proxy.context import ForwardContext
from app.runtime import Runtime
from app.store import agents, approvals, evidence
from app.store.approvals import StoredRequest

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_SECS: Final = 1.0
CLEANUP_EVERY_SWEEPS: Final = 300
# Finished rows stay this long after expiry so a late poll still gets an answer.
KEEP_FINISHED_SECS: Final = 3600


class BodyChanged(TapError):
    """The stored body no longer hashes to what the approvers were shown."""

    code = "approved_body_changed"


class Executor:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._rt.listener is not None:
            await self._rt.listener.subscribe(NOTIFY_CHANNEL, self._on_notify)
        self._tasks = [asyncio.create_task(self._sweep(), name="tap-approvals-sweeper")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.settle()

    async def settle(self) -> None:
        """Wait for every forward this executor has started."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    def _on_notify(self, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self._spawn(uuid.UUID(payload))

    def _spawn(self, txn_id: uuid.UUID) -> None:
        task = asyncio.create_task(self.forward_if_approved(txn_id))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _sweep(self) -> None:
        count = 0
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_SECS)
            count += 1
            try:
                await self.sweep_once(cleanup=count % CLEANUP_EVERY_SWEEPS == 0)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("approval sweep failed")

    async def sweep_once(self, *, cleanup: bool = False) -> None:
        """Close what timed out, audit denials, and start forwarding unclaimed approvals."""
        pool = self._rt.pool
        for stored in await approvals.expire_due(pool):
            await self._audit_closed(stored, outcome="timed_out", approval_status="timeout")
        for stored in await approvals.denied_unaudited(pool):
            await self._audit_closed(stored, outcome="denied", approval_status="denied")
        for txn_id in await approvals.approved_ids(pool):
            self._spawn(txn_id)
        if cleanup:
            await approvals.cleanup(pool, KEEP_FINISHED_SECS)

    async def forward_if_approved(self, txn_id: uuid.UUID) -> None:
        """Claim and forward one approved request; a no-op if someone else has it."""
        try:
            stored = await approvals.claim_for_forwarding(self._rt.pool, txn_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            logger.warning("could not claim approval %s; the sweep will retry", txn_id)
            return
        if stored is None:
            return
        ctx = await self._context(stored)
        ctx.approval_status = "approved"
        try:
            await self._bind_evidence(ctx, stored)
            _check_still_valid(ctx, stored)
            ctx = await pipeline.run(ctx, pipeline.AFTER_APPROVAL)
            ctx.outcome = "forwarded"
            await approvals.finish(
                self._rt.pool,
                stored,
                status="forwarded",
                response_status=ctx.upstream_status,
                response_headers=ctx.upstream_headers_out,
                response_body=ctx.upstream_body,
            )
        except (ProxyError, TapError) as exc:
            ctx.outcome = "error"
            ctx.error_code = getattr(exc, "code", "error")
            await approvals.finish(self._rt.pool, stored, status="error", error=str(exc))
        except Exception:
            logger.exception("forwarding approved request %s failed", txn_id)
            ctx.outcome = "error"
            ctx.error_code = "internal_error"
            await approvals.finish(self._rt.pool, stored, status="error", error="internal error")
        finally:
            if ctx.agent is not None and self._rt.audit is not None:
                latency = int((time.perf_counter() - ctx.started) * 1000)
                await self._rt.audit.record(ctx.audit_entry(now_iso=now_iso(), latency_ms=latency))

    async def _context(self, stored: StoredRequest) -> ForwardContext:
        """The request as the headers stage left it, in the mode it was parked in."""
        ctx = ForwardContext(
            rt=self._rt,
            request_id=stored.txn_id,
            started=time.perf_counter(),
            raw_headers=[],
            body=stored.body or b"",
        )
        ctx.raw_target = stored.target_url
        ctx.method = stored.method
        ctx.forward_headers = stored.headers
        ctx.auth_mode = stored.auth_mode
        if stored.mode == "unified":
            ctx.credential_name = stored.credential_names[0]
        else:
            ctx.placeholder_names = list(stored.credential_names)
        ctx.policy_reason = stored.policy_reason or ""
        ctx.require_passkey = stored.require_passkey
        ctx.approver_identity = stored.resolved_by
        ctx.approval_latency_ms = stored.approval_latency_ms
        async with self._rt.pool.acquire() as conn:
            with contextlib.suppress(TapError):
                ctx.agent = await agents.get(conn, stored.team_id, stored.agent_id)
        ctx.agents = [ctx.agent] if ctx.agent is not None else []
        return ctx

    async def _bind_evidence(self, ctx: ForwardContext, stored: StoredRequest) -> None:
        """What passkey approvals signed: the target they allow, and the digest to audit."""
        votes = await evidence.of_request(self._rt.pool, stored.team_id, stored.txn_id)
        if votes:
            ctx.signed_targets = tuple(
                CanonicalRequest.parse(v.canonical_request).target_url for v in votes
            )
            ctx.evidence_sha256 = digest([PasskeyVote.of(v) for v in votes])

    async def _audit_closed(
        self, stored: StoredRequest, *, outcome: str, approval_status: str
    ) -> None:
        ctx = await self._context(stored)
        if ctx.agent is None or self._rt.audit is None:
            return
        ctx.outcome = outcome
        ctx.approval_status = approval_status
        await self._rt.audit.record(ctx.audit_entry(now_iso=now_iso(), latency_ms=0))


def _check_still_valid(ctx: ForwardContext, stored: StoredRequest) -> None:
    """Fail closed if the agent went away or the body is not the one approved."""
    agent = ctx.agent
    if agent is None or not agent.enabled:
        raise Unauthorized("The agent was disabled or deleted while the request waited.")
    body = stored.body
    if body is None or not hmac.compare_digest(approvals.body_sha256(body), stored.body_sha256):
        raise BodyChanged("The stored request body does not match what was approved.")
