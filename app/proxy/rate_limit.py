"""Stage 4: the hourly allowance of the agent whose rights serve the request, counted in Postgres.

It runs after the access stage, because the agent charged is the one that is
*used*: the serving agent, i.e. the first listed key that holds the credential
(in placeholder mode, the primary agent, whose grants cover every reference).
NOTE: charging the first valid key instead would let an agent dodge its own
limit by listing an unlimited key first while a later key did the work.

Agents without a limit cost no round trip. A limit of N admits exactly N
requests in any rolling hour; the 429 says how long until one slot frees.
"""

from __future__ import annotations

import logging

from app.errors import RateLimited
from app.proxy.context import ForwardContext
from app.store import rate

logger = logging.getLogger(__name__)


async def run(ctx: ForwardContext) -> ForwardContext:
    agent = ctx.agent
    assert agent is not None
    if agent.rate_limit_per_hour is None:
        return ctx
    decision = await rate.take(ctx.rt.pool, agent.team_id, agent.id, agent.rate_limit_per_hour)
    if not decision.admitted:
        logger.info("agent %s is over its hourly limit", agent.id)
        raise RateLimited(
            f"Rate limit exceeded: {decision.used}/{agent.rate_limit_per_hour} requests in the last hour.",
            retry_after_secs=decision.retry_after_secs,
            limit_per_hour=agent.rate_limit_per_hour,
        )
    return ctx
