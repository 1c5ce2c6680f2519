"""Stage 2: who is calling. ``X-TAP-Key`` (one key or a comma-separated list).

Each key is hashed (HMAC under the api-key purpose key) and looked up, through
a per-worker cache that every replica invalidates on change. Unknown and
disabled keys are indistinguishable: 401 ``invalid_tap_key``. A database
failure is a 503, never a 401. The first valid key is the *primary* agent;
the access stage picks the serving agent, and the rate stage charges the agent
whose rights the request uses.
"""

from __future__ import annotations

from typing import Final

from app.errors import MissingTapKey, Unauthorized
from app.proxy.context import ForwardContext
from app.runtime import Runtime
from app.store import agents
from app.store.models import Agent

MAX_KEYS: Final = 10


async def lookup(rt: Runtime, key: str) -> Agent | None:
    """The enabled agent holding ``key``, or None. Raises DatabaseUnavailable."""
    digest = rt.keys.hash_api_key(key)
    agent = rt.agent_cache.get(digest)
    if agent is None:
        agent = await agents.by_key_hash(rt.pool, digest)
        if agent is None:
            return None
        rt.agent_cache.put(digest, agent.team_id, agent)
    return agent if agent.enabled else None


async def authenticate_all(rt: Runtime, header: str, *, single: bool = False) -> list[Agent]:
    """Every enabled agent named by the key list, in order. Raises Unauthorized if none.

    ``single`` endpoints take the header as one key, so a list fails there.
    """
    if not header.strip():
        raise MissingTapKey("Missing X-TAP-Key header.", setup_url="/instructions")
    candidates = (
        [header.strip()]
        if single
        else [k.strip() for k in header.split(",") if k.strip()][:MAX_KEYS]
    )
    found: list[Agent] = []
    for key in candidates:
        agent = await lookup(rt, key)
        if agent is not None and agent not in found:
            found.append(agent)
    if not found:
        raise Unauthorized("Invalid API key.", dashboard_url=rt.config.dashboard_url + "/dashboard")
    return found


async def run(ctx: ForwardContext) -> ForwardContext:
    found = await authenticate_all(ctx.rt, ctx.api_key.reveal())
    ctx.agents = found
    ctx.agent = found[0]
    ctx.agents = found
    return ctx
