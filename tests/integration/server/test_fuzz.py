"""Fuzz the whole published API (admin and agent) against a real tap-proxy.

Schemathesis generates valid and invalid requests for every operation in
``/openapi.json``, at least :data:`MIN_REQUESTS` in all, and checks each
answer: no 5xx, the status, content type and body match the document,
invalid data is refused, and an operation that succeeds with its session or
agent key refuses the same request without it. At the end tap-proxy must not
have logged anything at error level.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from tests.support.served_team import ServedTeam, served_team

# NOTE: the floor is the point of the test; FUZZ_EXAMPLES only raises the per-operation budget.
MIN_REQUESTS = 5_000
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "100"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
# A body over the size cap is refused with 413 before it is read: as good a refusal of
# invalid data as a 400 (schemathesis sometimes makes a negative case megabytes long).
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                # schemathesis's own list, with 413.
                "expected-statuses": [
                    *("400", "401", "403", "404", "405", "406", "409", "413", "415"),
                    *("422", "428", "429", "5xx"),
                ]
            }
        }
    }
)
# Operations fuzzed without credentials: /logout would end the fuzzer's own session.
WITHOUT_CREDENTIALS = {"/logout"}


def _credentials(team: ServedTeam, operation: Any) -> dict[str, str]:
    if operation.path in WITHOUT_CREDENTIALS:
        return {}
    security = operation.definition.raw.get("security", [])
    if {"agentKey": []} in security:
        return team.agent_headers
    return team.admin_headers


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fuzz_the_whole_api(tmp_path: Path, database_url: str) -> None:
    with served_team(tmp_path, database_url) as team:
        document = team.document()
        schema = schemathesis.openapi.from_dict(document, config=CONFIG)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == sum(len(item) for item in document["paths"].values())
        paths = {op.path for op in operations}
        assert {"/forward", "/agent/services", "/team/credentials"} <= paths
        sent = 0
        for operation in operations:
            checks = [
                c
                for c in CHECKS
                if c is not ignored_auth or operation.path not in WITHOUT_CREDENTIALS
            ]
            sent += _fuzz(operation, team.url, _credentials(team, operation), checks)
        assert sent >= MIN_REQUESTS
        assert team.error_lines() == []


def _fuzz(operation: Any, url: str, headers: dict[str, str], checks: list[Any]) -> int:
    """Fuzz one operation; returns how many requests were generated and sent."""
    sent = 0

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        # The real session or key replaces the one schemathesis made up; when it
        # left the credential out (a negative case), none is sent.
        generated = {name.lower() for name in case.headers or {}}
        real = {name: value for name, value in headers.items() if name.lower() in generated}
        case.call_and_validate(base_url=url, headers=real, checks=checks, allow_redirects=False)

    run()
    return sent
