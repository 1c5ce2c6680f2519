"""After a passkey approval, the request may only go to the target the passkeys signed."""

from __future__ import annotations

import time
import uuid
from typing import Any, cast

import pytest

from app.errors import SignedRequestChanged
from app.proxy import signed
from app.proxy.context import ForwardContext

SIGNED = "https://api.example.com/v1/charges"


def _ctx(target: str, signed_targets: tuple[str, ...]) -> ForwardContext:
    ctx = ForwardContext(
        rt=cast(Any, None),
        request_id=uuid.uuid4(),
        started=time.perf_counter(),
        raw_headers=[],
        body=b"",
    )
    ctx.target_url = target
    ctx.signed_targets = signed_targets
    return ctx


async def test_the_signed_target_passes() -> None:
    assert (await signed.run(_ctx(SIGNED, (SIGNED, SIGNED)))).target_url == SIGNED


async def test_no_passkey_approval_no_check() -> None:
    assert (await signed.run(_ctx("https://elsewhere.example/", ()))).target_url


@pytest.mark.parametrize(
    "moved",
    [
        "https://api.example.com/v2/charges",
        "https://api.example.com/v1/charges/",
        "https://evil.example/v1/charges",
    ],
)
async def test_a_moved_target_is_refused(moved: str) -> None:
    with pytest.raises(SignedRequestChanged):
        await signed.run(_ctx(moved, (SIGNED,)))
