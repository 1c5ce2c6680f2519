"""``POST /forward``: run the pipeline, answer, and audit every outcome.

No framework here: :mod:`app.proxy.asgi_route` reads the request, calls
:func:`forward`, and sends the :class:`~app.answers.Answer` it returns (or the
refusal it raises).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Final

from app.admin.contract import document
from app.answers import Answer, json_answer
from app.audit import now_iso
from app.errors import ProxyError
from app.proxy import pipeline, stream
from app.proxy.approval import ApprovalRequired
from app.proxy.context import ForwardContext
from app.proxy.contract import FORWARD_OPENAPI
from app.proxy.stream_scrub import StreamScrubber
from app.runtime import Runtime
from app.secret import SecretPairs

logger = logging.getLogger(__name__)

AGENT_HINT: Final = (
    "A human must approve this request. Poll poll_url every few seconds until status is "
    "forwarded, denied, timed_out or error; do not resend the request."
)
AGENT_REFLECTED_HINT: Final = (
    "A human must approve this request, and nobody else was notified: show approval_url to "
    "your user now and ask them to open it and decide. Then poll poll_url every few seconds "
    "until status is forwarded, denied, timed_out or error; do not resend the request."
)


def agent_hint(channel: str) -> str:
    """What the agent should do while its request waits on ``channel``."""
    return AGENT_REFLECTED_HINT if channel == "agent_reflected" else AGENT_HINT


def approval_links(rt: Runtime, txn_id: uuid.UUID) -> dict[str, str]:
    """Where the agent polls for the decision, and where a person makes it."""
    return {
        "poll_url": f"/agent/approvals/{txn_id}",
        "approval_url": f"{rt.config.links_base_url}/approve/txn/{txn_id}",
    }


document(
    "forward",
    "POST",
    "/forward",
    summary="Make an upstream call with a named credential; the answer is the upstream's, scrubbed.",
    responses={202: None},
    authenticated=False,
    errors=(400, 401, 403, 404, 413, 429, 502, 503),
    openapi=FORWARD_OPENAPI,
    quart_view=False,
)


async def forward(
    rt: Runtime, request_id: uuid.UUID, raw_headers: SecretPairs, body: bytes
) -> Answer:
    """Run the pipeline for one request and answer it; every outcome is audited.

    Raises:
        ProxyError: the request is refused (the caller renders it).
    """
    ctx = ForwardContext(
        rt=rt,
        request_id=request_id,
        started=time.perf_counter(),
        raw_headers=raw_headers,
        body=body,
        may_stream=True,
    )
    streaming = False
    try:
        ctx = await pipeline.run(ctx)
        ctx.outcome = "forwarded"
        streaming = ctx.upstream_stream is not None
    except ApprovalRequired as parked:
        ctx.outcome = "pending_approval"
        policy = ctx.policies.get(ctx.credentials[0].name) if ctx.credentials else None
        route = parked.route
        pending: dict[str, object] = {
            "status": "pending",
            "txn_id": str(parked.txn_id),
            **approval_links(rt, parked.txn_id),
            "expires_in": rt.config.approval_timeout_secs,
            "notification_channel": route.channel,
            "approval_policy_channel": policy.approval_channel if policy else None,
            "approval_policy_present": policy is not None,
            "policy_reason": ctx.policy_reason,
            "agent_hint": agent_hint(route.channel),
        }
        if route.fallback_reason is not None:
            pending["notification_fallback"] = {
                "requested": route.requested,
                "reason": route.fallback_reason,
            }
        # NOTE: ids and names only; an operator watching the log learns how to decide.
        logger.info(
            "request %s of agent %s waits for approval: tap --team %s approve %s, or open %s",
            parked.txn_id,
            ctx.agent.id if ctx.agent else "?",
            ctx.team_id,
            parked.txn_id,
            pending["approval_url"],
        )
        return json_answer(202, pending)
    except ProxyError as exc:
        ctx.outcome = "refused" if exc.status < 500 else "error"
        ctx.error_code = exc.code
        raise
    finally:
        if not streaming:
            if ctx.upstream_stream is not None:
                ctx.upstream_stream.release()
            await _audit(ctx)
    assert ctx.upstream_status is not None
    if streaming:
        return _streamed(ctx)
    return Answer(ctx.upstream_status, ctx.upstream_headers_out, ctx.upstream_body)


async def _audit(ctx: ForwardContext) -> None:
    # Every outcome of an identified agent is audited; 401s have no team to file them under.
    rt = ctx.rt
    if ctx.agent is not None and rt.audit is not None and ctx.outcome != "pending_approval":
        latency = int((time.perf_counter() - ctx.started) * 1000)
        await rt.audit.record(ctx.audit_entry(now_iso=now_iso(), latency_ms=latency))


def _streamed(ctx: ForwardContext) -> Answer:
    """The answer whose body is relayed as it arrives; audited when it ends."""
    assert ctx.upstream_stream is not None and ctx.stream_sanitizer is not None

    async def done(result: stream.StreamResult) -> None:
        ctx.response_sanitized = ctx.response_sanitized or result.sanitized
        if result.cut is not None:
            ctx.outcome = "error"
            ctx.error_code = "response_stream_cut"
        # NOTE: sizes and digests only; the bytes themselves are never logged.
        logger.info(
            "request %s streamed %d bytes (sha256 %s)%s",
            ctx.request_id,
            result.size,
            result.sha256,
            f", cut: {result.cut}" if result.cut else "",
        )
        await _audit(ctx)

    assert ctx.upstream_status is not None
    # The stream's own limits bound it (app.proxy.stream); the sender sets no deadline of its own.
    return Answer(
        ctx.upstream_status,
        ctx.upstream_headers_out,
        stream.Relay(ctx.upstream_stream, StreamScrubber(ctx.stream_sanitizer), done),
    )
