"""A signing credential's fields can never be placed by the agent (placeholder mode).

The attack: an S3 credential bound to ``s3.amazonaws.com`` is also good for a bucket
the attacker owns there and leaves open to anonymous writes. Without this rule, an
agent could send ``x-amz-meta-note: <CREDENTIAL:s3.secret_access_key>`` in placeholder
mode (no signature needed for a public bucket) and store the secret key in the
attacker's object metadata. TAP signs with these credentials; it never hands their
fields out.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.tap import Tap
from tests.support.upstream import Upstream

CASES = {
    "aws-sigv4": (
        {"secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXFIL"},
        ["--access-key-id", "AKIDEXFIL", "--region", "us-east-1", "--service", "s3"],
        "secret_access_key",
    ),
    "oauth1": (
        {"consumer_secret": "consumer-secret-exfil-0123"},
        ["--consumer-key", "ck-exfil"],
        "consumer_secret",
    ),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_fields_of_a_signing_credential_cannot_be_placed(
    tap: Tap, add_kind: Callable[..., None], upstream: Upstream, kind: str
) -> None:
    secrets, flags, field = CASES[kind]
    add_kind("c", kind, secrets, *flags, "--allowed-host", "127.0.0.1")
    key = tap.agent("bot", "--credentials", "c")
    for header, value in (
        ("x-amz-meta-note", f"<CREDENTIAL:c.{field}>"),
        ("Authorization", "<CREDENTIAL:c>"),
    ):
        response = tap.forward(
            key, None, upstream.url + "/attacker-bucket/loot", headers={header: value}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "placeholder_position_violation"
    assert upstream.received == []
