"""Stage 4: may this agent use this credential? Then load its configuration.

The credential must be in the agent's effective set (direct grants plus its
roles). The serving agent is the first authenticated key that holds it. The
credential, its policy and the team's default mode come from one query,
cached per worker and invalidated on change by every replica.
"""

from __future__ import annotations

import base64
import json
from typing import Final

from app.errors import CredentialNotAllowed, CredentialNotFound
from app.proxy.context import ForwardContext
from app.runtime import Runtime
from app.store import db
from app.store.credentials import NAME_PATTERN
from app.store.forward import ForwardConfig, config_for
from app.store.models import Agent

_SERVICES: Final = "/agent/services"


async def load_config(rt: Runtime, team_id: str, name: str) -> ForwardConfig | None:
    key = (team_id, name)
    cached: ForwardConfig | None = rt.config_cache.get(key)
    if cached is not None:
        return cached
    with db.translate_errors():
        found = await config_for(rt.pool, team_id, name)
    if found is not None:
        rt.config_cache.put(key, team_id, found)
    return found


def credential_link_url(rt: Runtime, name: str) -> str:
    """A dashboard link that pre-fills a new credential of this name (no value, ever)."""
    blob = base64.urlsafe_b64encode(json.dumps({"name": name}).encode()).rstrip(b"=").decode()
    return f"{rt.config.dashboard_url}/dashboard?prefill_credential={blob}#/credentials"


async def _not_allowed(ctx: ForwardContext, name: str) -> Exception:
    agent = ctx.agent
    assert agent is not None
    if not NAME_PATTERN.match(name):
        return CredentialNotAllowed(
            f"Credential {name[:80]!r} is not a valid credential name.",
            services_url=_SERVICES,
        )
    if await load_config(ctx.rt, agent.team_id, name) is None:
        return CredentialNotFound(
            f"Credential '{name}' not found.",
            services_url=_SERVICES,
            credential_link_url=credential_link_url(ctx.rt, name),
        )
    return CredentialNotAllowed(
        f"Credential '{name}' is not allowed for any provided key.",
        config_url="/agent/config",
        services_url=_SERVICES,
    )


def _serving_agent(agents: list[Agent], name: str) -> Agent | None:
    return next((a for a in agents if name in a.effective_credentials), None)


async def run(ctx: ForwardContext) -> ForwardContext:
    agents: list[Agent] = ctx.extra.get("agents") or ([ctx.agent] if ctx.agent else [])
    names = [ctx.credential_name] if ctx.credential_name is not None else ctx.placeholder_names
    for name in names:
        serving = _serving_agent(agents, name)
        if serving is None or serving.team_id != agents[0].team_id and ctx.credential_name is None:
            raise await _not_allowed(ctx, name)
        found = await load_config(ctx.rt, serving.team_id, name)
        if found is None:
            raise await _not_allowed(ctx, name)
        if ctx.credential_name is not None:
            ctx.extra["serving_agent"] = serving
        ctx.credentials.append(found.credential)
        ctx.policies[name] = found.policy
        ctx.team_mode = found.team_mode
    return ctx
