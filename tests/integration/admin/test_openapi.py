"""The published contract: /openapi.json documents every admin and agent route."""

from __future__ import annotations

import re

from app.admin import contract
from tests.support.admin_api import Api

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
    served_in_front = {(op.path, op.method) for op in contract.OPERATIONS if not op.quart_view}
    assert served_in_front == {("/forward", "POST")}
    assert routed == documented - served_in_front
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
