"""AWS SigV4 end to end: ``tap add --auth aws-sigv4`` -> ``/forward`` -> an S3-style endpoint
that verifies the signature (payload hash included) with its own code."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.fake_s3 import FakeS3
from tests.support.tap import Tap
from tests.support.upstream import Upstream

ACCESS_KEY = "AKIDTAPEXAMPLE01"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYTAPSECRETKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789"


def _add(add_kind: Callable[..., None], secrets: dict[str, str]) -> None:
    add_kind(
        "s3",
        "aws-sigv4",
        secrets,
        "--access-key-id",
        ACCESS_KEY,
        "--region",
        "us-east-1",
        "--service",
        "s3",
        "--allowed-host",
        "127.0.0.1",
    )


def test_put_and_get_are_signed_over_the_payload(
    tap: Tap, add_kind: Callable[..., None], served: Callable[..., Upstream]
) -> None:
    s3 = FakeS3(keys={ACCESS_KEY: SECRET_KEY}, session_tokens={ACCESS_KEY: SESSION_TOKEN})
    s3.reply_text = f"{SECRET_KEY}|{SESSION_TOKEN}"
    upstream = served(s3.handle)
    _add(add_kind, {"secret_access_key": SECRET_KEY, "session_token": SESSION_TOKEN})
    tap.ok("policy", "set", "s3", "--auto-approve-methods", "GET,PUT")
    key = tap.agent("bot", "--credentials", "s3")

    put = tap.forward(
        key,
        "s3",
        upstream.url + "/bucket/reports/2026%20q3.csv",
        method="PUT",
        headers={
            "Content-Type": "text/csv",
            "x-amz-meta-owner": "finance",
            "Authorization": "AWS4-HMAC-SHA256 forged",
            "X-Amz-Date": "20000101T000000Z",
        },
        content=b"a,b\n1,2\n",
    )
    assert put.status_code == 200, put.text
    listed = tap.forward(key, "s3", upstream.url + "/bucket?list-type=2&prefix=reports%2F")
    assert listed.status_code == 200, listed.text
    assert s3.refused == []
    assert [(k, m) for k, m, _ in s3.verified] == [(ACCESS_KEY, "PUT"), (ACCESS_KEY, "GET")]
    sent = upstream.received[0].headers
    assert "forged" not in sent["Authorization"] and sent["X-Amz-Date"] != "20000101T000000Z"
    assert "x-amz-meta-owner" in sent["Authorization"]  # the agent's x-amz-* headers are signed
    service = tap.get("/agent/services", key).json()["services"]["s3"]
    assert service["kind"]["name"] == "aws-sigv4" and service["auth_mode"] == "aws_sigv4_signature"
    for answer in (put, listed):
        # Secret fields are scrubbed; the public region is left alone.
        assert SECRET_KEY not in answer.text and SESSION_TOKEN not in answer.text
        assert "<Region>us-east-1</Region>" in answer.text


def test_a_changed_body_fails_the_fakes_check(
    tap: Tap, add_kind: Callable[..., None], served: Callable[..., Upstream]
) -> None:
    """The fake is a real verifier: the same credential with the wrong secret is refused."""
    s3 = FakeS3(keys={ACCESS_KEY: "not-the-secret"})
    upstream = served(s3.handle)
    _add(add_kind, {"secret_access_key": SECRET_KEY})
    key = tap.agent("bot", "--credentials", "s3")
    response = tap.forward(key, "s3", upstream.url + "/bucket/x")
    assert response.status_code == 403 and "SignatureDoesNotMatch" in response.text
    assert s3.refused == ["signature does not match"]


def test_the_cli_refuses_a_value_missing_a_field(tap: Tap) -> None:
    result = tap.cli(
        "add", "--name", "s3", "--auth", "aws-sigv4", "--access-key-id", ACCESS_KEY,
        "--region", "us-east-1", "--allowed-host", "127.0.0.1", "--value-file", "-",
        input='{"secret_access_key": "x"}',
    )  # fmt: skip
    assert result.exit_code == 1
    assert "value.service" in result.stderr and "x" not in result.stderr.split(":", 1)[0]
    stray = tap.cli(
        "add", "--name", "s3", "--auth", "api-key", "--region", "us-east-1",
        "--allowed-host", "127.0.0.1", "--value-file", "-", input="k",
    )  # fmt: skip
    assert stray.exit_code == 2 and "--region" in stray.stderr


def test_an_approved_write_is_signed_when_it_is_forwarded(
    tap: Tap, add_kind: Callable[..., None], served: Callable[..., Upstream]
) -> None:
    """Signing happens at forward time, after the human's decision, over the stored request."""
    s3 = FakeS3(keys={ACCESS_KEY: SECRET_KEY})
    upstream = served(s3.handle)
    _add(add_kind, {"secret_access_key": SECRET_KEY})
    key = tap.agent("bot", "--credentials", "s3")
    parked = tap.forward(
        key, "s3", upstream.url + "/bucket/k", method="PUT", content=b"approved body"
    )
    assert parked.status_code == 202, parked.text
    assert upstream.received == []
    tap.ok("approve", parked.json()["txn_id"])
    status = tap.poll(key, parked.json()["poll_url"], {"forwarded", "error"})
    assert status["status"] == "forwarded", status
    assert s3.refused == [] and [m for _, m, _ in s3.verified] == ["PUT"]
    assert upstream.received[0].body == b"approved body"


def test_a_forced_auth_mode_is_refused(
    tap: Tap, add_kind: Callable[..., None], served: Callable[..., Upstream]
) -> None:
    upstream = served(FakeS3(keys={ACCESS_KEY: SECRET_KEY}).handle)
    _add(add_kind, {"secret_access_key": SECRET_KEY})
    key = tap.agent("bot", "--credentials", "s3")
    response = tap.forward(key, "s3", upstream.url + "/b", headers={"X-TAP-Auth-Mode": "bearer"})
    assert response.status_code == 400 and response.json()["error"] == "auth_mode_unavailable"
    assert upstream.received == []
