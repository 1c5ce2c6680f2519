"""Stage 3: may this agent use this credential? Then load its configuration.

The credential must be in the agent's effective set (direct grants plus its
roles). The serving agent is the first authenticated key that holds it. The
credential, its policy and the team's default mode come from one query,
cached per worker and invalidated on change by every replica.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Final

from app.errors import CredentialNotAllowed, CredentialNotFound
from app.proxy.context import ForwardContext
from app.runtime import Runtime
from app.store.credentials import NAME_PATTERN
from app.store.forward import ForwardConfig, config_for
from app.store.models import Agent

_SERVICES: Final = "/agent/services"


async def load_config(rt: Runtime, team_id: str, name: str) -> ForwardConfig | None:
    key = (team_id, name)
    cached: ForwardConfig | None = rt.config_cache.get(key)
    if cached is not None:
        return cached
    found = await config_for(rt.pool, team_id, name)
    if found is not None:
        rt.config_cache.put(key, team_id, found)
    return found


def credential_link_url(rt: Runtime, fields: dict[str, Any]) -> str:
    """A dashboard link that pre-fills a new credential (metadata only, never a value)."""
    raw = json.dumps(fields, separators=(",", ":")).encode()
    blob = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return f"{rt.config.links_base_url}/dashboard?prefill_credential={blob}#/credentials"


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
            credential_link_url=credential_link_url(ctx.rt, {"name": name}),
        )
    return CredentialNotAllowed(
        f"Credential '{name}' is not allowed for any provided key.",
        config_url="/agent/config",
        services_url=_SERVICES,
    )


def _serving_agent(agents: list[Agent], name: str) -> Agent | None:
    return next((a for a in agents if name in a.effective_credentials), None)


async def run(ctx: ForwardContext) -> ForwardContext:
    agents: list[Agent] = ctx.agents or ([ctx.agent] if ctx.agent else [])
    if ctx.credential_name is not None:
        # Unified mode: the first key that holds the credential serves the request; its team
        # owns the credential, the approval and the audit record.
        serving = _serving_agent(agents, ctx.credential_name)
        if serving is None:
            raise await _not_allowed(ctx, ctx.credential_name)
        ctx.agent = serving
        names = [ctx.credential_name]
    else:
        # Placeholder mode: every referenced credential must be the primary agent's.
        names = ctx.placeholder_names
    agent = ctx.agent
    assert agent is not None
    for name in names:
        found = (
            await load_config(ctx.rt, agent.team_id, name)
            if name in agent.effective_credentials
            else None
        )
        if found is None:
            raise await _not_allowed(ctx, name)
        ctx.credentials.append(found.credential)
        ctx.policies[name] = found.policy
        ctx.team_mode = found.team_mode
    return ctx
