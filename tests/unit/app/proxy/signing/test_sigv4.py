"""SigV4 against AWS's published signing test suite (tests/vectors/sigv4/, one case per directory)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import botocore.auth
import pytest

from app.proxy.signing.sigv4 import AwsKey, sign

VECTORS_DIR = Path(__file__).resolve().parents[5] / "tests/vectors/sigv4"
CASES = sorted(p.name for p in VECTORS_DIR.iterdir() if p.is_dir())


def _request(text: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    head, _, body = text.partition("\n\n")
    first, *lines = head.split("\n")
    method, rest = first.split(" ", 1)
    path = rest.rsplit(" ", 1)[0]
    headers: list[tuple[str, str]] = []
    for line in lines:
        if not line:
            continue
        if line[:1] in (" ", "\t"):  # a folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, f"{value}\n{line}")
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return method, path, headers, body.encode()


def _expected_authorization(text: str) -> str:
    return next(
        line.split(":", 1)[1]
        for line in text.split("\n")
        if line.lower().startswith("authorization:")
    )


@pytest.mark.parametrize("case", CASES)
def test_aws_signing_suite(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = VECTORS_DIR / case
    context = json.loads((directory / "context.json").read_text())
    method, path, headers, body = _request((directory / "request.txt").read_text())
    host = next(v for n, v in headers if n.lower() == "host")
    when = dt.datetime.strptime(context["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)
    creds = context["credentials"]
    key = AwsKey(
        creds["access_key_id"],
        creds["secret_access_key"],
        context["region"],
        context["service"],
        creds.get("token"),
    )
    added = dict(
        sign(
            method,
            f"https://{host}{path}",
            headers,
            body,
            key,
            send_payload_hash=context["sign_body"],
        )
    )
    expected = _expected_authorization((directory / "header-signed-request.txt").read_text())
    assert added["Authorization"] == expected


def test_agent_copies_of_signing_headers_are_replaced_and_the_key_is_masked() -> None:
    key = AwsKey("AKID", "very-secret-key-0123", "us-east-1", "s3", "session-token-0123")
    added = sign(
        "PUT",
        "https://bucket.s3.amazonaws.com/k",
        [
            ("Authorization", "forged"),
            ("X-Amz-Date", "20000101T000000Z"),
            ("X-Amz-Security-Token", "x"),
        ],
        b"body",
        key,
    )
    names = [name for name, _ in added]
    assert names == ["X-Amz-Content-SHA256", "X-Amz-Date", "X-Amz-Security-Token", "Authorization"]
    values = dict(added)
    assert values["X-Amz-Security-Token"] == "session-token-0123"
    assert values["X-Amz-Date"] != "20000101T000000Z" and "forged" not in values["Authorization"]
    assert "very-secret-key-0123" not in json.dumps(added) and "very-secret" not in repr(key)
    assert "x-amz-security-token" in values["Authorization"]  # the token is signed
