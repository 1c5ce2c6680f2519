"""The policy tester explains every decision ``app.proxy.policy`` can reach."""

from __future__ import annotations

from app.admin.policy_tester import RULES
from app.proxy import policy


def test_every_reason_the_policy_can_give_has_words() -> None:
    reasons = {
        value for name, value in vars(policy).items() if name.isupper() and isinstance(value, str)
    }
    assert reasons, "the policy module names its reasons"
    assert reasons <= set(RULES), sorted(reasons - set(RULES))
