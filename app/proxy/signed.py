"""After approval: the request still goes where the approvers' passkeys said it would.

A passkey approval signs the effective target URL (:mod:`app.passkeys.canonical`).
The approve endpoint refuses an assertion once the target has moved, but the
credential could still be re-pointed between the vote and the forward; this
stage closes that gap. It runs after :mod:`app.proxy.target` and is a no-op
for requests approved without a passkey.
"""

from __future__ import annotations

import hmac

from app.errors import SignedRequestChanged
from app.proxy.context import ForwardContext


async def run(ctx: ForwardContext) -> ForwardContext:
    for signed in ctx.signed_targets:
        if not hmac.compare_digest(signed.encode(), ctx.target_url.encode()):
            raise SignedRequestChanged(
                "The request's target changed after it was approved with a passkey."
            )
    return ctx
