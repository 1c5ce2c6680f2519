from __future__ import annotations

import json

from app.secret import Secret, SecretPairs


def test_secret_is_masked() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret} {secret!r}"
    assert secret.reveal() == "hunter2"


def test_secret_equality() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert not Secret("")


def test_secret_pairs_print_names_only() -> None:
    pairs = SecretPairs([("Authorization", "Bearer sk_live_abc"), ("X-Key", "k-123")])
    # %-formatting is what logging does with lazy arguments.
    logged = "%s %r" % (pairs, pairs)  # noqa: UP031
    for shown in (repr(pairs), str(pairs), f"{pairs}", f"{pairs!r}", logged):
        assert "sk_live_abc" not in shown and "k-123" not in shown
        assert "Authorization" in shown and "X-Key" in shown
    # It is still the pairs, for the one place that sends them.
    assert list(pairs) == [("Authorization", "Bearer sk_live_abc"), ("X-Key", "k-123")]
    assert dict(pairs)["X-Key"] == "k-123"
    assert json.loads(json.dumps(pairs)) == [
        ["Authorization", "Bearer sk_live_abc"],
        ["X-Key", "k-123"],
    ]
