"""The published contract: /openapi.json documents every admin and agent route."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app.admin import contract
from tests.support.admin_api import PASSWORD, Api, ServedApp, serve_admin
from tests.support.fake_resend import FakeResend

FUZZ_EXAMPLES = int(os.environ.get("ADMIN_FUZZ_EXAMPLES", "10"))
_RULE = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


async def test_document_lists_every_declared_route(api: Api) -> None:
    reply = await api.call("GET", "/openapi.json")
    assert reply.status == 200 and reply.body["openapi"] == "3.1.0"
    documented = {
        (path, method.upper()) for path, item in reply.body["paths"].items() for method in item
    }
    app = api.client.app  # type: ignore[attr-defined]
    admin_blueprints = {op.tag for op in contract.OPERATIONS}
    routed = {
        (_RULE.sub(r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in admin_blueprints
        for method in rule.methods
        if method not in ("HEAD", "OPTIONS")
    }
    assert routed == documented
    # The agent's side is published too, authenticated by its key.
    for path in ("/forward", "/agent/services", "/agent/credential-link", "/agent/approvals/{txn}"):
        assert path in reply.body["paths"], path
    assert reply.body["paths"]["/forward"]["post"]["security"] == [{"agentKey": []}]
    # Every operation documents its errors in the shared JSON error shape; only
    # /forward's default answer is the upstream's own.
    for path, item in reply.body["paths"].items():
        for op in item.values():
            responses = op["responses"]
            error = responses["400"] if path == "/forward" else responses["default"]
            assert error["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[tuple[ServedApp, FakeResend]]:
    resend = FakeResend().start()
    server = serve_admin(tmp_path, database_url, resend)
    yield server, resend
    server.stop()
    resend.stop()


def _session(url: str, resend: FakeResend) -> str:
    email = "fuzz@example.com"
    assert (
        httpx.post(
            url + "/signup", json={"team_name": "fuzz", "email": email, "password": PASSWORD}
        ).status_code
        == 201
    )
    assert (
        httpx.post(
            url + "/verify-email", json={"email": email, "code": resend.code_for(email)}
        ).status_code
        == 200
    )
    login = httpx.post(url + "/login", json={"email": email, "password": PASSWORD})
    token: str = login.json()["session_token"]
    # Give the fuzzer something to find.
    headers = {"Authorization": f"Bearer {token}"}
    httpx.post(
        url + "/team/credentials",
        headers=headers,
        json={
            "name": "stripe",
            "allowed_hosts": ["api.stripe.com"],
            "value": "sk_live_fuzzfuzzfuzz",
        },
    )
    httpx.post(url + "/team/agents", headers=headers, json={"id": "bot", "credentials": ["stripe"]})
    return token


@pytest.mark.slow
def test_fuzz_finds_no_server_errors(served: tuple[ServedApp, FakeResend]) -> None:
    server, resend = served
    token = _session(server.url, resend)
    document = httpx.get(server.url + "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in document["paths"].values())
    for operation in operations:
        # /logout would end the fuzzer's own session; it is fuzzed without one.
        headers = {} if operation.path == "/logout" else {"Authorization": f"Bearer {token}"}
        _fuzz(operation, server.url, headers, checks)


def _fuzz(operation: Any, url: str, headers: dict[str, str], checks: list[Any]) -> None:
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=url, headers=headers, checks=checks)

    run()
