"""Tests for attestation/_release_policy.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from attestation import InputError, ReleasePolicy, VerificationError, evaluate_release_policy
from tests.support.attestation import ENDPOINT, HOSTDATA, good_claims

OTHER = "f" * 64

# The shape of Microsoft's ACI sample: booleans and integers written as strings,
# two hostdata values under one authority during a rollover.
SAMPLE: dict[str, Any] = {
    "version": "1.0.0",
    "anyOf": [
        {
            "authority": ENDPOINT + "/",
            "allOf": [
                {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"},
                {"claim": "x-ms-compliance-status", "equals": "azure-compliant-uvm"},
                {"claim": "x-ms-sevsnpvm-is-debuggable", "equals": "false"},
                {"claim": "x-ms-sevsnpvm-vmpl", "equals": "0"},
                {
                    "anyOf": [
                        {"claim": "x-ms-sevsnpvm-hostdata", "equals": OTHER},
                        {"claim": "x-ms-sevsnpvm-hostdata", "equals": HOSTDATA.upper()},
                    ]
                },
            ],
        }
    ],
}


def evaluate(policy: dict[str, Any], **overrides: Any) -> Any:
    return evaluate_release_policy(ReleasePolicy.from_json(policy), good_claims(**overrides))


def test_sample_policy_releases_and_explains() -> None:
    decision = evaluate(SAMPLE)
    assert decision.matched == "anyOf[0]"
    names = [r.name for r in decision.trace]
    assert names[:3] == [
        "anyOf[0] authority",
        "anyOf[0].allOf",
        "anyOf[0].allOf[0] x-ms-attestation-type",
    ]
    failing = [r.name for r in decision.trace if not r.ok]
    assert failing == ["anyOf[0].allOf[4].anyOf[0] x-ms-sevsnpvm-hostdata"]


@pytest.mark.parametrize(
    ("overrides", "failing"),
    [
        # a measurement the policy does not name
        ({"x-ms-sevsnpvm-hostdata": "0" * 64}, "anyOf[0].allOf[4].anyOf"),
        # debuggable, as a real boolean
        ({"x-ms-sevsnpvm-is-debuggable": True}, "anyOf[0].allOf[2] x-ms-sevsnpvm-is-debuggable"),
        # a claim the policy needs is missing
        ({"x-ms-sevsnpvm-vmpl": None}, "anyOf[0].allOf[3] x-ms-sevsnpvm-vmpl"),
        # another attestation authority
        ({"iss": "https://other.example"}, "anyOf[0] authority"),
        ({"iss": None}, "anyOf[0] authority"),
        # a structured value never equals a scalar
        ({"x-ms-attestation-type": ["sevsnpvm"]}, "anyOf[0].allOf[0] x-ms-attestation-type"),
    ],
)
def test_not_released(overrides: dict[str, Any], failing: str) -> None:
    with pytest.raises(VerificationError) as info:
        evaluate(SAMPLE, **overrides)
    assert info.value.check == "release-policy"
    assert failing in [r.name for r in info.value.results if not r.ok]
    assert info.value.results[-1].name == "release-policy"


def test_second_authority_can_match() -> None:
    policy = copy.deepcopy(SAMPLE)
    policy["anyOf"].insert(
        0, {"authority": "https://other.example", "allOf": [{"claim": "x", "equals": 1}]}
    )
    assert evaluate(policy).matched == "anyOf[1]"


def mutate(path: list[Any], value: Any) -> dict[str, Any]:
    policy = copy.deepcopy(SAMPLE)
    target: Any = policy
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return policy


@pytest.mark.parametrize(
    "policy",
    [
        # empty lists are refused, at every level
        mutate(["anyOf"], []),
        mutate(["anyOf", 0, "allOf"], []),
        mutate(["anyOf", 0, "allOf", 4, "anyOf"], []),
        # version
        mutate(["version"], "2.0.0"),
        mutate(["version"], KeyError),
        # unsupported operators and values
        mutate(["anyOf", 0, "allOf", 0], {"claim": "x", "exists": True}),
        mutate(["anyOf", 0, "allOf", 0], {"claim": "x", "notEquals": "y"}),
        mutate(["anyOf", 0, "allOf", 0], {"claim": "x", "equals": 1.5}),
        mutate(["anyOf", 0, "allOf", 0], {"claim": "x", "equals": None}),
        mutate(["anyOf", 0, "allOf", 0], {"claim": "", "equals": "y"}),
        mutate(["anyOf", 0, "allOf", 0], {"claim": 1, "equals": "y"}),
        mutate(["anyOf", 0, "allOf", 0], "x"),
        # structure
        mutate(["anyOf", 0, "anyOf"], []),
        mutate(["anyOf", 0, "authority"], "http://maa.example"),
        mutate(["anyOf", 0, "authority"], KeyError),
        mutate(["anyOf", 0], "x"),
        mutate(["extra"], 1),
        mutate(["allOf"], []),
        mutate(["anyOf"], {}),
    ],
)
def test_policies_outside_the_grammar(policy: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        ReleasePolicy.from_json(policy)


def test_origins() -> None:
    assert [o.url for o in ReleasePolicy.from_json(SAMPLE).origins] == [ENDPOINT]
