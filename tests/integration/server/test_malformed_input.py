"""Malformed input to every JSON endpoint is a 400 or 413 with a stable JSON ``error``, never a 500.

The endpoints come from the published OpenAPI document, so an endpoint added
later is covered without touching this file. Each is sent the same hostile
bodies (invalid UTF-8, non-objects, non-JSON constants, duplicate keys, deep
nesting, an oversized body, every field of the wrong JSON type) with a valid
session and agent key, so the refusal is about the body and nothing else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.json_body import MAX_JSON_BODY_BYTES
from tests.support.admin_api import running_api
from tests.support.served_team import CREDENTIAL, ServedTeam, served_team

# (case name, raw body, expected status, expected error code)
BODIES: list[tuple[str, bytes, int, str]] = [
    ("empty", b"", 400, "invalid_json"),
    ("invalid utf-8", b'{"name": "\xff\xfe\xc3"}', 400, "invalid_json"),
    ("utf-16", '{"name": "x"}'.encode("utf-16"), 400, "invalid_json"),
    ("truncated", b'{"name": ', 400, "invalid_json"),
    ("NaN", b'{"name": NaN}', 400, "invalid_json"),
    ("Infinity", b'{"name": -Infinity}', 400, "invalid_json"),
    ("duplicate key", b'{"name": "a", "name": "b"}', 400, "invalid_json"),
    ("deep nesting", b"[" * 100_000, 400, "invalid_json"),
    ("array", b"[1, 2]", 400, "json_not_object"),
    ("number", b"42", 400, "json_not_object"),
    ("string", b'"name"', 400, "json_not_object"),
    ("null", b"null", 400, "json_not_object"),
    ("huge", b'{"name": "' + b"a" * (MAX_JSON_BODY_BYTES + 1) + b'"}', 413, "payload_too_large"),
]


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, pg_cluster: Any) -> Iterator[ServedTeam]:
    from tests.support.postgres import create_database

    with served_team(tmp_path_factory.mktemp("malformed"), create_database(pg_cluster)) as running:
        yield running
        assert running.error_lines() == []


def _json_endpoints(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body schema) of every operation that reads a JSON body."""
    found = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found.append((method.upper(), path, content["application/json"]["schema"]))
    return sorted(found, key=lambda e: (e[1], e[0]))


def _concrete(path: str) -> str:
    """A path with plausible values in its parameters (an id where one is expected)."""
    return (
        path.replace("{txn_id}", str(uuid.uuid4()))
        .replace("{txn}", str(uuid.uuid4()))
        .replace("{invite_id}", str(uuid.uuid4()))
        .replace("{member_id}", str(uuid.uuid4()))
        .replace("{credential}", CREDENTIAL)
        .replace("{name}", CREDENTIAL)
        .replace("{agent_id}", "bot")
    )


def _send(team: ServedTeam, method: str, path: str, content: bytes) -> httpx.Response:
    headers = {**team.admin_headers, **team.agent_headers, "Content-Type": "application/json"}
    if path.startswith("/agent/"):
        # NOTE: an agent key on the admin API is refused on purpose; send each side its own.
        headers.pop("Authorization")
    else:
        headers.pop("X-TAP-Key")
    return httpx.request(method, team.url + _concrete(path), headers=headers, content=content)


def test_every_json_endpoint_is_covered(team: ServedTeam) -> None:
    endpoints = {(m, p) for m, p, _ in _json_endpoints(team.document())}
    assert ("POST", "/agent/credential-link") in endpoints
    assert ("POST", "/signup") in endpoints and ("POST", "/team/agents") in endpoints


@pytest.mark.parametrize(("case", "raw", "status", "code"), BODIES, ids=[b[0] for b in BODIES])
def test_malformed_bodies_are_refused_with_their_own_code(
    team: ServedTeam, case: str, raw: bytes, status: int, code: str
) -> None:
    failures = []
    for method, path, _schema in _json_endpoints(team.document()):
        response = _send(team, method, path, raw)
        body = (
            response.json() if response.headers.get("content-type") == "application/json" else None
        )
        if response.status_code != status or not body or body.get("error") != code:
            failures.append((method, path, response.status_code, response.text[:200]))
    assert failures == [], case


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def _types(schema: dict[str, Any], document: dict[str, Any]) -> set[str] | None:
    """The JSON types a property schema allows; ``None`` when it allows anything."""
    schema = _resolve(schema, document)
    if "anyOf" in schema or "oneOf" in schema:
        result: set[str] = set()
        for branch in schema.get("anyOf", schema.get("oneOf", [])):
            types = _types(branch, document)
            if types is None:
                return None
            result |= types
        return result
    if "type" in schema:
        kind = schema["type"]
        return set(kind) if isinstance(kind, list) else {kind}
    if "enum" in schema or "const" in schema:
        return {"string"}
    return None


def _wrong_value(types: set[str]) -> Any:
    """A JSON value of a type that ``types`` does not allow (never one lax parsing would coerce)."""
    numeric = {"integer", "number"} & types
    candidates: list[tuple[str, Any]] = [
        ("integer", 42),
        ("string", "42" if numeric else "true"),
        ("boolean", True),
        ("array", ["x"]),
        ("object", {"x": "y"}),
    ]
    for kind, value in candidates:
        if kind not in types and not (kind == "integer" and "number" in types):
            return value
    raise AssertionError(f"no wrong value for {types}")


def test_every_field_of_the_wrong_type_is_refused(team: ServedTeam) -> None:
    document = team.document()
    failures = []
    checked = 0
    for method, path, schema in _json_endpoints(document):
        properties = _resolve(schema, document).get("properties", {})
        for name, prop in properties.items():
            types = _types(prop, document)
            if types is None:
                continue
            body = json.dumps({name: _wrong_value(types)}).encode()
            response = _send(team, method, path, body)
            checked += 1
            problems = response.json().get("problems", []) if response.status_code == 400 else []
            # The wrong field is named; other (missing) fields may be named too.
            if response.json().get("error") != "invalid_input" or not any(
                p["field"] == name or p["field"].startswith(name + ".") for p in problems
            ):
                failures.append((method, path, name, response.status_code, response.text[:300]))
    assert failures == []
    assert checked > 50


# (method, path, body, field the refusal must name)
WRONG: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/agent/credential-link", {"name": 42}, "name"),
    ("POST", "/agent/credential-link", {"name": "gh\u0000"}, "name"),
    (
        "POST",
        "/agent/credential-link",
        {"name": "gh", "relative_target": "true"},
        "relative_target",
    ),
    ("POST", "/agent/credential-link", {"name": "gh", "allowed_hosts": "a.com"}, "allowed_hosts"),
    (
        "POST",
        "/agent/credential-link",
        {"name": "gh", "auth_bindings": [{"header": 1}]},
        "auth_bindings",
    ),
    ("POST", "/agent/credential-link", {"name": "gh", "template": "x"}, "template"),
    ("POST", "/team/agents", {"id": "bot2", "all_credentials": "true"}, "all_credentials"),
    ("POST", "/team/agents", {"id": "bot2", "rate_limit_per_hour": "5"}, "rate_limit_per_hour"),
    ("POST", "/team/agents", {"id": "bot2", "rate_limit_per_hour": 5.5}, "rate_limit_per_hour"),
    ("POST", "/team/agents", {"id": "bot\u00002"}, "id"),
    (
        "POST",
        "/team/credentials",
        {"name": "x", "relative_target": 1, "allowed_hosts": ["a.com"]},
        "relative_target",
    ),
    (
        "POST",
        "/team/credentials",
        {"name": "x", "value": "sk\u0000", "allowed_hosts": ["a.com"]},
        "value",
    ),
    ("PUT", f"/team/policies/{CREDENTIAL}", {"min_approvals": "2"}, "min_approvals"),
    ("PUT", f"/team/policies/{CREDENTIAL}", {"require_passkey": 1}, "require_passkey"),
    ("POST", "/login", {"email": "owner@example.com", "password": 12345678}, "password"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"), WRONG, ids=[f"{w[1]}:{w[3]}" for w in WRONG]
)
def test_wrong_types_and_nul_are_refused_not_coerced(
    team: ServedTeam, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    response = _send(team, method, path, json.dumps(body).encode())
    assert response.status_code == 400, response.text
    reply = response.json()
    assert reply["error"] == "invalid_input"
    assert any(p["field"].split(".")[0] == field for p in reply["problems"]), reply
    assert "\u0000" not in response.text and "12345678" not in response.text


def test_credential_link_refuses_secrets_before_anything_else(team: ServedTeam) -> None:
    for body in ({"name": 42, "value": "sk"}, {"name": "gh", "token": "t"}, {"password": "p"}):
        response = _send(team, "POST", "/agent/credential-link", json.dumps(body).encode())
        assert response.status_code == 400 and response.json()["error"] == "secret_not_accepted"
    bad_name = _send(team, "POST", "/agent/credential-link", b'{"name": "Not A Name!"}')
    assert bad_name.status_code == 400 and bad_name.json()["error"] == "invalid_credential_name"
    good = _send(
        team, "POST", "/agent/credential-link", b'{"name": " GitHub ", "relative_target": true}'
    )
    assert good.status_code == 200 and "prefill_credential=" in good.json()["create_url"]


def test_unknown_routes_and_methods_answer_json(team: ServedTeam) -> None:
    missing = httpx.get(team.url + "/no/such/route")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = httpx.delete(team.url + "/forward")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


def test_forward_control_header_refusals_have_their_own_codes(team: ServedTeam) -> None:
    def forward(**headers: str) -> dict[str, Any]:
        response = httpx.post(team.url + "/forward", headers={**team.agent_headers, **headers})
        assert response.status_code == 400, response.text
        body: dict[str, Any] = response.json()
        assert body["safe_to_retry"] is False and body["agent_action"]
        return body

    assert forward(**{"X-TAP-Target": "https://api.stripe.com/"})["error"] == "missing_credential"
    assert (
        forward(**{"X-TAP-Target": "https://a/", "X-TAP-End-User": "u"})["error"]
        == "end_user_not_supported"
    )
    assert forward(**{"X-TAP-Target": "https://a/" + "x" * 9000})["error"] == "target_too_long"
    assert (
        forward(**{"X-TAP-Target": "https://a/", "X-TAP-Bogus": "1"})["error"]
        == "unknown_tap_header"
    )


def test_no_refusal_is_logged_as_an_error(team: ServedTeam, tmp_path: Path) -> None:
    # Refusals are the caller's doing: nothing in this module may log at error level.
    assert team.error_lines() == []


def test_attestation_refusals_share_the_rendering_and_are_not_cached(team: ServedTeam) -> None:
    # Without the enclave feature there is nothing to attest.
    reply = httpx.get(team.url + "/attestation?nonce=" + "ab" * 16)
    assert reply.status_code == 404 and reply.json()["error"] == "not_found"
    assert reply.headers["cache-control"] == "no-store"


async def test_a_query_parameter_given_twice_is_refused(tmp_path: Path, database_url: str) -> None:
    async with running_api(tmp_path, database_url) as api:
        owner = await api.signup("acme", "ann@example.com")
        reply = await api.call("GET", "/team/audit?credential=a&credential=b", owner.token)
        assert reply.status == 400 and reply.body["error"] == "invalid_input"
        assert reply.body["problems"] == [{"field": "credential", "problem": "given more than once"}]
        assert (await api.call("GET", "/team/audit?credential=a", owner.token)).status == 200
