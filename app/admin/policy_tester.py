"""``POST /team/policies/{credential}/test``: would this request run at once or wait for a human?

The answer comes from the code ``/forward`` runs, not from a copy of it: the
method is read by :func:`app.proxy.policy.normalize_method`, the target by
:func:`app.proxy.target.resolve_target` and :func:`~app.proxy.target.check_scheme`
(so a relative target is resolved against ``api_base`` and ``allowed_hosts``
applies), and the decision by :func:`app.proxy.policy.decide` with the stored
policy and the team's default mode. A request the target checks would refuse
is reported as ``refused`` with the error code ``/forward`` would answer.

Not judged here: which agent asks, its rate limit, and DNS (the SSRF stage
resolves names when a real request arrives).
"""

from __future__ import annotations

from typing import Final

from quart import Blueprint, Response

from app.admin.auth import Caller
from app.admin.contract import SESSION_ERRORS, operation, respond
from app.admin.credentials import credential_name
from app.admin.schemas import PolicyTestBody, PolicyTestResult
from app.errors import ProxyError, ResourceNotFound
from app.proxy import policy as policy_rules
from app.proxy.target import check_scheme, resolve_target
from app.store import credentials as credentials_store
from app.store import db, teams
from app.store import policies as policies_store
from app.store.models import ApprovalMode, Policy
from app.webstate import runtime

blueprint = Blueprint("policy_tester", __name__)

_CRED = {"credential": credentials_store.NAME_PATTERN.pattern}

#: reason code -> the rule in words, as the dashboard shows it.
RULES: Final = {
    policy_rules.TEAM_AUTONOMOUS_DEFAULT: "No policy: the team is autonomous, so everything runs.",
    policy_rules.TEAM_GATED_SAFE_METHOD: "No policy: the team is gated, and reads (GET, HEAD) run.",
    policy_rules.TEAM_GATED_UNSAFE_METHOD: "No policy: the team is gated, so writes wait for a human.",
    policy_rules.REQUIRE_APPROVAL_URL: "A require-approval URL pattern matched (it beats every other rule).",
    policy_rules.AUTO_APPROVE_URL: "An auto-approve URL pattern matched (whatever the method).",
    policy_rules.AUTO_APPROVE_METHOD: "The method is in the auto-approve methods.",
    policy_rules.REQUIRE_APPROVAL_METHOD: "The method is in the require-approval methods.",
    policy_rules.REQUIRE_APPROVAL_DEFAULT: "No rule matched; anything unlisted waits for a human.",
}


def _matched(
    policy: Policy | None, decision: policy_rules.Decision, method: str, target: str
) -> str | None:
    """The pattern or method that decided, for the rules that name one."""
    if policy is None:
        return None
    kind: policy_rules.RuleKind
    if decision.reason == policy_rules.REQUIRE_APPROVAL_URL:
        patterns, kind = policy.require_approval_urls, "require"
    elif decision.reason == policy_rules.AUTO_APPROVE_URL:
        patterns, kind = policy.auto_approve_urls, "auto"
    elif decision.reason in (
        policy_rules.AUTO_APPROVE_METHOD,
        policy_rules.REQUIRE_APPROVAL_METHOD,
    ):
        return "GET" if method == "HEAD" else method
    else:
        return None
    return next(
        (p for p in patterns if policy_rules.url_pattern_matches(p, target, kind)),
        None,
    )


@operation(
    blueprint,
    "POST",
    "/team/policies/<credential>/test",
    summary="Judge a method and target with the credential's policy, as /forward would; nothing is sent.",
    body=PolicyTestBody,
    responses={200: PolicyTestResult},
    errors=(400, 404, *SESSION_ERRORS),
    path_patterns=_CRED,
    permission="manage_policies",
)
async def test_policy(credential: str, body: PolicyTestBody, caller: Caller) -> Response:
    name = credential_name(credential)
    state = runtime()
    async with db.transaction(state.pool) as conn:
        stored = await credentials_store.find(conn, caller.team_id, name)
        if stored is None:
            raise ResourceNotFound(f"credential {name!r} does not exist")
        policy = await policies_store.get(conn, caller.team_id, name)
        team_mode = await teams.default_mode(conn, caller.team_id)
    passkey = policy is not None and policy.require_passkey
    quorum = policy.min_approvals if policy is not None else 1
    try:
        method = policy_rules.normalize_method(body.method)
        resolved = resolve_target(body.target, stored)
        check_scheme(resolved, stored, allow_loopback_http=state.config.allow_private_targets)
    except ProxyError as refused:
        return respond(
            PolicyTestResult(
                credential=name,
                method=body.method.strip().upper(),
                target=body.target,
                outcome="refused",
                needs_approval=False,
                reason=refused.code,
                rule=f"/forward would refuse this request before the policy: {refused.message}",
                matched=None,
                require_passkey=passkey,
                min_approvals=quorum,
                policy_present=policy is not None,
            )
        )
    mode: ApprovalMode = "autonomous" if team_mode == "autonomous" else "gated"
    decision = policy_rules.decide(policy, mode, method, resolved.display)
    return respond(
        PolicyTestResult(
            credential=name,
            method=method,
            target=resolved.display,
            outcome="waits_for_human" if decision.needs_approval else "runs_at_once",
            needs_approval=decision.needs_approval,
            reason=decision.reason,
            rule=RULES.get(decision.reason, decision.reason),
            matched=_matched(policy, decision, method, resolved.display),
            require_passkey=passkey and decision.needs_approval,
            min_approvals=quorum,
            policy_present=policy is not None,
        )
    )
