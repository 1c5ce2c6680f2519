"""A request that fails deep in the pipeline, with a secret in flight, leaks no form of it.

The app runs in-process (so a bug can be planted after injection) at debug log
level, against a recording upstream. The planted bug is the worst kind: it
formats the whole request context, its outgoing headers and its secrets into
an exception message. The 500, the logged traceback, ``repr(ctx)`` and every
log line must still hold no form of the credential's value or the agent's key.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import logging
import re
import urllib.parse
from pathlib import Path
from typing import Any, NoReturn

import pytest

from app.proxy import forward
from app.proxy.context import ForwardContext
from app.proxy.credential_value import CredentialValue
from app.proxy.inject import inject
from app.proxy.placeholders import substitute
from app.secret import Secret
from tests.support.admin_api import running_api
from tests.support.factories import make_credential
from tests.support.tap import run_cli
from tests.support.upstream import Upstream

USERNAME = "svc-user-7781"
PASSWORD = "pw/Secret+Value=9931"
VALUE = json.dumps({"username": USERNAME, "password": PASSWORD})


def forms(secret: str) -> set[str]:
    """The encodings a leak could take (what the sanitizer would look for in a response)."""
    raw = secret.encode()
    return {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        binascii.hexlify(raw).decode(),
        base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode(),
    }


def assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in text, f"a form of a secret leaked: ...{text[:200]}"


@pytest.fixture
def agent_key(tmp_path: Path, database_url: str, upstream: Upstream) -> str:
    def ok(*args: str, input: str | None = None) -> str:
        result = run_cli(tmp_path, database_url, *args, input=input)
        assert result.exit_code == 0, result.output
        return result.output

    ok("init")
    ok(
        "add", "--name", "svc", "--description", "svc", "--auth", "basic",
        "--allowed-host", "127.0.0.1", "--value-file", "-", input=VALUE,
    )  # fmt: skip
    output = ok("agent", "create", "--name", "bot", "--credentials", "svc")
    match = re.search(r"^TAP_API_KEY=(\S+)$", output, re.M)
    assert match, output
    return match.group(1)


async def test_a_failure_after_injection_leaks_no_secret(
    tmp_path: Path,
    database_url: str,
    upstream: Upstream,
    agent_key: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[ForwardContext] = []

    async def buggy_read(response: Any, *_: Any) -> NoReturn:
        # The upstream has answered: the secret went out in a header and sits in
        # the context for the sanitizer. A bug now formats everything it can reach.
        frame = inspect.currentframe()
        assert frame is not None and frame.f_back is not None
        ctx: ForwardContext = frame.f_back.f_locals["ctx"]
        seen.append(ctx)
        raise RuntimeError(
            f"bug while reading {response!r}: {ctx!r} {ctx} headers={ctx.upstream_headers!r} "
            f"secrets={ctx.secrets} raw={ctx.raw_headers!r} key={ctx.api_key!r} "
            f"kwargs={dict(headers=ctx.upstream_headers)!r}"
        )

    monkeypatch.setattr(forward, "_read_capped", buggy_read)
    caplog.set_level(logging.DEBUG)
    async with running_api(
        tmp_path,
        database_url,
        local_mode=True,
        DANGEROUS_TAP_ALLOW_PRIVATE_TARGETS="1",
        TAP_LOG_LEVEL="debug",
    ) as api:
        reply = await api.call(
            "POST",
            "/forward",
            headers={
                "X-TAP-Key": agent_key,
                "X-TAP-Credential": "svc",
                "X-TAP-Target": upstream.url + "/v1/thing",
                "X-TAP-Method": "GET",
            },
        )

    # The secret really was in flight: the upstream received it.
    (received,) = upstream.received
    basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert received.headers["Authorization"] == f"Basic {basic}"
    assert reply.status == 500, reply.body
    assert reply.body["error"] == "internal_error"

    secrets = [PASSWORD, USERNAME, agent_key]
    (ctx,) = seen
    assert ctx.secrets and ctx.upstream_headers
    for shown in (repr(ctx), str(ctx), repr(ctx.secrets), repr(ctx.upstream_headers)):
        assert_clean(shown, secrets)
    assert_clean(json.dumps(reply.body), secrets)
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert tracebacks, "the failure was not logged with its traceback"
    for record in caplog.records:
        assert_clean(record.getMessage(), secrets)
        if record.exc_info is not None:
            assert_clean(logging.Formatter().formatException(record.exc_info), secrets)
    assert_clean(caplog.text, secrets)


def test_what_holds_a_revealed_secret_masks_itself() -> None:
    value = CredentialValue.parse(VALUE)
    injection = inject([("Accept", "x")], make_credential(auth_type="basic"), Secret(VALUE))
    substitution = substitute(
        [("Authorization", "Basic <CREDENTIAL:svc.password>")], {"svc": Secret(VALUE)}
    )
    for holder in (value, injection, substitution, injection.headers, substitution.injected):
        assert_clean(repr(holder), [PASSWORD, USERNAME])
        assert_clean(str(holder), [PASSWORD, USERNAME])
    # The names stay visible: that is what makes a masked repr useful.
    assert "Authorization" in repr(injection.headers)
    assert "password" in repr(value)
