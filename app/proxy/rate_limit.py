"""Stage 3: the primary agent's hourly allowance, counted in Postgres.

Agents without a limit cost no round trip. A limit of N admits exactly N
requests in any rolling hour; the 429 says how long until one slot frees.
"""

from __future__ import annotations

from app.errors import RateLimited
from app.proxy.context import ForwardContext
from app.store import db, rate


async def run(ctx: ForwardContext) -> ForwardContext:
    agent = ctx.agent
    assert agent is not None
    if agent.rate_limit_per_hour is None:
        return ctx
    with db.translate_errors():
        decision = await rate.take(ctx.rt.pool, agent.team_id, agent.id, agent.rate_limit_per_hour)
    if not decision.admitted:
        raise RateLimited(
            f"Rate limit exceeded: {decision.used}/{agent.rate_limit_per_hour} requests in the last hour.",
            retry_after_secs=decision.retry_after_secs,
            limit_per_hour=agent.rate_limit_per_hour,
        )
    return ctx
