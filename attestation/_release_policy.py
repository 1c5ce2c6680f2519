"""Azure Key Vault key release policies: parse one, and evaluate it against claims.

A release policy tells Key Vault which attestation tokens may have a key
released to them.  The grammar accepted here::

    policy     {"version": "1.0.0", "anyOf" | "allOf": [authority, ...]}
    authority  {"authority": "<attestation endpoint>", "anyOf" | "allOf": [condition, ...]}
    condition  {"claim": "<claim name>", "equals": <string | integer | boolean>}
             | {"anyOf" | "allOf": [condition, ...]}

Every list must be non-empty and no object may carry other members; anything
else (other operators such as ``exists`` or ``notEquals``, floats, unknown
versions) is refused as unsupported rather than half-understood.

An authority clause holds when the token's ``iss`` is that authority and its
conditions hold.  ``equals`` compares the canonical text of both values
case-insensitively: ``true``/``false`` for booleans, decimal for integers.  This
is how Microsoft's own sample policy is written (``"false"`` for
``x-ms-sevsnpvm-is-debuggable`` and ``"0"`` for ``x-ms-sevsnpvm-vmpl``, as
strings) and it is a prediction of Key Vault's decision, not a replacement for
it: Key Vault is the one that enforces the policy.

Usage::

    policy = ReleasePolicy.from_json(parse_object(text))
    decision = evaluate_release_policy(policy, verified.claims)
    print(decision.matched)          # e.g. "anyOf[0]"
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, TypeAlias

from attestation._checks import CheckResult
from attestation._endpoint import Origin
from attestation._types import Claims, JSONObject, JSONValue
from attestation.errors import InputError, VerificationError

__all__ = [
    "POLICY_VERSION",
    "AuthorityClause",
    "ClaimEquals",
    "ConditionGroup",
    "PolicyDecision",
    "ReleasePolicy",
    "evaluate_release_policy",
]

logger = logging.getLogger(__name__)

POLICY_VERSION = "1.0.0"
"""The one policy version understood."""

GroupMode: TypeAlias = Literal["anyOf", "allOf"]
Scalar: TypeAlias = str | int | bool


@dataclass(frozen=True, slots=True)
class ClaimEquals:
    """``{"claim": claim, "equals": value}``."""

    claim: str
    value: Scalar

    def __post_init__(self) -> None:
        if not self.claim:
            raise InputError("release policy: a condition names an empty claim")


@dataclass(frozen=True, slots=True)
class ConditionGroup:
    """``{"anyOf": [...]}`` or ``{"allOf": [...]}`` over conditions."""

    mode: GroupMode
    members: tuple[Condition, ...]

    def __post_init__(self) -> None:
        # NOTE: an empty allOf would hold vacuously; an empty anyOf never. Refuse both.
        if not self.members:
            raise InputError(f"release policy: an empty {self.mode} list")


Condition: TypeAlias = ClaimEquals | ConditionGroup


@dataclass(frozen=True, slots=True)
class AuthorityClause:
    """``{"authority": url, "anyOf" | "allOf": [...]}``."""

    authority: Origin
    conditions: ConditionGroup


@dataclass(frozen=True, slots=True)
class ReleasePolicy:
    """A parsed key release policy; an invalid one cannot be built."""

    version: str
    mode: GroupMode
    authorities: tuple[AuthorityClause, ...]

    def __post_init__(self) -> None:
        if self.version != POLICY_VERSION:
            raise InputError(
                f"release policy: version {self.version!r} is not supported "
                f"(expected {POLICY_VERSION!r})"
            )
        if not self.authorities:
            raise InputError(f"release policy: an empty {self.mode} list")

    @classmethod
    def from_json(cls, obj: JSONObject) -> ReleasePolicy:
        """Build a policy from its parsed JSON.

        Raises:
            InputError: the JSON is outside the supported grammar.
        """
        version = obj.get("version")
        if not isinstance(version, str):
            raise InputError("release policy: 'version' must be a string")
        mode, items = _group_members(obj, allowed={"version"}, where="policy")
        clauses = tuple(_authority(item) for item in items)
        return cls(version=version, mode=mode, authorities=clauses)

    @property
    def origins(self) -> tuple[Origin, ...]:
        """The distinct authorities the policy names, in order."""
        return tuple(dict.fromkeys(clause.authority for clause in self.authorities))


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """The evaluation of a policy that would release the key."""

    matched: str
    """The path of the first authority clause that holds, e.g. ``anyOf[1]``."""
    trace: tuple[CheckResult, ...]
    """Every clause and condition evaluated, parents before children."""


def _group_members(
    obj: JSONObject, *, allowed: set[str], where: str
) -> tuple[GroupMode, list[JSONValue]]:
    modes = [key for key in ("anyOf", "allOf") if key in obj]
    if len(modes) != 1:
        raise InputError(f"release policy: {where} needs exactly one of anyOf or allOf")
    mode: GroupMode = "anyOf" if modes[0] == "anyOf" else "allOf"
    extra = set(obj) - allowed - {mode}
    if extra:
        raise InputError(f"release policy: {where} has unsupported members {sorted(extra)}")
    items = obj[mode]
    if not isinstance(items, list):
        raise InputError(f"release policy: {where} {mode} must be a list")
    return mode, items


def _authority(item: JSONValue) -> AuthorityClause:
    if not isinstance(item, dict):
        raise InputError("release policy: an authority clause is not an object")
    url = item.get("authority")
    if not isinstance(url, str):
        raise InputError("release policy: an authority clause has no 'authority' string")
    mode, items = _group_members(item, allowed={"authority"}, where="authority clause")
    group = ConditionGroup(mode, tuple(_condition(member) for member in items))
    return AuthorityClause(Origin.parse(url), group)


def _condition(item: JSONValue) -> Condition:
    if not isinstance(item, dict):
        raise InputError("release policy: a condition is not an object")
    if "claim" not in item:
        mode, items = _group_members(item, allowed=set(), where="condition")
        return ConditionGroup(mode, tuple(_condition(member) for member in items))
    if set(item) != {"claim", "equals"}:
        raise InputError(
            f"release policy: unsupported condition members {sorted(item)}; "
            "only {'claim', 'equals'} is supported"
        )
    claim, value = item["claim"], item["equals"]
    if not isinstance(claim, str):
        raise InputError("release policy: 'claim' must be a string")
    if not isinstance(value, str | int | bool):
        raise InputError(f"release policy: claim {claim!r} equals an unsupported {value!r}")
    return ClaimEquals(claim, value)


def _text(value: JSONValue) -> str | None:
    """The canonical text of a scalar claim value, or None for other values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    return None


def _show(value: JSONValue) -> str:
    return "missing or null" if value is None else repr(value)


def _evaluate(condition: Condition, claims: Claims, path: str, trace: list[CheckResult]) -> bool:
    if isinstance(condition, ClaimEquals):
        actual = claims.get(condition.claim)
        text = _text(actual)
        ok = text is not None and text.casefold() == str(_text(condition.value)).casefold()
        trace.append(
            CheckResult(
                f"{path} {condition.claim}", ok, f"equals {condition.value!r}", _show(actual)
            )
        )
        return ok
    at = len(trace)
    results = [
        _evaluate(member, claims, f"{path}.{condition.mode}[{index}]", trace)
        for index, member in enumerate(condition.members)
    ]
    ok = any(results) if condition.mode == "anyOf" else all(results)
    need = "any" if condition.mode == "anyOf" else "all"
    trace.insert(
        at,
        CheckResult(
            f"{path}.{condition.mode}", ok, f"{need} of {len(results)}", f"{sum(results)} hold"
        ),
    )
    return ok


def evaluate_release_policy(policy: ReleasePolicy, claims: Claims) -> PolicyDecision:
    """Evaluate ``policy`` against the claims of a verified token.

    Raises:
        VerificationError: no authority clause holds (check ``release-policy``);
            its ``results`` explain every clause.
    """
    trace: list[CheckResult] = []
    iss = claims.get("iss")
    issuer = Origin.parse(iss).url if isinstance(iss, str) and _is_origin(iss) else None
    outcomes: list[bool] = []
    for index, clause in enumerate(policy.authorities):
        path = f"{policy.mode}[{index}]"
        trace.append(
            CheckResult(
                f"{path} authority",
                issuer == clause.authority.url,
                clause.authority.url,
                _show(iss),
            )
        )
        held = _evaluate(clause.conditions, claims, path, trace)
        outcomes.append(held and issuer == clause.authority.url)
    released = any(outcomes) if policy.mode == "anyOf" else all(outcomes)
    if not released:
        error = VerificationError(
            "release-policy",
            expected=f"{'any' if policy.mode == 'anyOf' else 'all'} authority clause to hold",
            actual=f"{sum(outcomes)} of {len(outcomes)} hold",
        )
        error.results = (*trace, CheckResult("release-policy", False, error.expected, error.actual))
        raise error
    matched = next(f"{policy.mode}[{i}]" for i, held in enumerate(outcomes) if held)
    logger.debug("release policy holds through %s", matched)
    return PolicyDecision(matched=matched, trace=tuple(trace))


def _is_origin(text: str) -> bool:
    try:
        Origin.parse(text)
    except InputError:
        return False
    return True
