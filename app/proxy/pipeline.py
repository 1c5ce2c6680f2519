"""The ``/forward`` pipeline, readable top to bottom.

Each stage is ``async def run(ctx) -> ctx`` and denies by raising a
:class:`~app.errors.ProxyError`. :data:`STAGES` is the order for a fresh
request; :data:`AFTER_APPROVAL` is what runs when an approved request is
forwarded later, in the mode stored with it (the checks that depend on *now*
run again: access, placeholder positions, target, SSRF, injection with the
current value).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from app.proxy import (
    access,
    approval,
    authenticate,
    forward,
    headers,
    inject,
    placeholders,
    policy,
    rate_limit,
    sanitize,
    signed,
    ssrf,
    target,
)
from app.proxy.context import ForwardContext

Stage = Callable[[ForwardContext], Awaitable[ForwardContext]]

STAGES: Final[tuple[Stage, ...]] = (
    headers.run,  # control headers; what goes upstream
    authenticate.run,  # X-TAP-Key -> agents
    access.run,  # credential granted? the serving agent; load config + policy
    rate_limit.run,  # the serving agent's rolling hour, in Postgres
    placeholders.run,  # placeholder mode: where references may stand
    target.run,  # URL or path under api_base; allowed_hosts
    ssrf.run,  # resolve once, refuse internal addresses
    policy.run,  # run now, or wait for a human?
    approval.run,  # park it and answer 202
    inject.run,  # the secret goes in here, and only here
    forward.run,  # upstream, no redirects
    sanitize.run,  # every encoding of every injected secret out
)

AFTER_APPROVAL: Final[tuple[Stage, ...]] = (
    access.run,
    placeholders.run,
    target.run,
    signed.run,  # where passkeys approved it: still the target they signed
    ssrf.run,
    inject.run,
    forward.run,
    sanitize.run,
)


async def run(ctx: ForwardContext, stages: tuple[Stage, ...] = STAGES) -> ForwardContext:
    for stage in stages:
        ctx = await stage(ctx)
    return ctx
