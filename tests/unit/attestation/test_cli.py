"""Tests for attestation/_cli.py, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from attestation._cli import cli
from tests.support.attestation import (
    HOSTDATA,
    NONCE,
    VECTORS,
    good_claims,
    load_vector,
    log_line,
    mint,
)

ENDPOINT = "https://maa.example"


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def token_args(name: str, *extra: str) -> list[str]:
    return [
        "verify-token",
        str(VECTORS / name),
        "--endpoint",
        ENDPOINT,
        "--expect-hostdata",
        HOSTDATA,
        "--nonce",
        NONCE,
        "--jwks",
        str(VECTORS / "maa_jwks.json"),
        *extra,
    ]


@pytest.fixture(autouse=True)
def _fixed_now(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.attestation import NOW

    monkeypatch.setattr("attestation._cli._now", lambda: NOW)


def test_help_explains_the_steps() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "verify-instance" in result.output and "step by step" in result.output


def test_verify_token_ok() -> None:
    result = invoke(*token_args("token_valid.jwt"))
    assert result.exit_code == 0, result.output
    assert "OK    signature: valid" in result.output
    assert f"VERIFIED: hostdata {HOSTDATA}" in result.output


def test_verify_token_failure_names_the_check() -> None:
    result = invoke(*token_args("token_debuggable.jwt"))
    assert result.exit_code == 1
    assert "FAIL  claim.x-ms-sevsnpvm-is-debuggable: expected false, got true" in result.output


def test_verify_token_json() -> None:
    result = invoke(*token_args("token_expired.jwt", "--json"))
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert document["error"]["check"] == "claim.exp"
    assert document["checks"][-1] == {
        "name": "claim.exp",
        "ok": False,
        "expected": document["error"]["expected"],
        "actual": document["error"]["actual"],
    }


def test_verify_token_inline_and_from_an_attestation_answer(tmp_path: Path) -> None:
    token = load_vector("token_valid.jwt").body
    args = token_args("token_valid.jwt")
    args[1] = token
    assert invoke(*args).exit_code == 0
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"token": token}))
    args[1] = str(answer)
    assert invoke(*args).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        # bad usage or input: could not check
        ["verify-token", "missing-file", "--endpoint", ENDPOINT, "--expect-hostdata", HOSTDATA],
        [
            "verify-token",
            "a.b.c",
            "--endpoint",
            "http://maa.example",
            "--expect-hostdata",
            HOSTDATA,
        ],
        ["verify-token", "a.b.c", "--endpoint", ENDPOINT, "--expect-hostdata", "xyz"],
        ["verify-token", "a.b.c", "--endpoint", ENDPOINT],
        ["hostdata", "missing.rego"],
        ["log", "verify", "missing.jsonl"],
    ],
)
def test_could_not_check_exits_2(args: list[str]) -> None:
    assert invoke(*args).exit_code == 2


def test_unreachable_endpoint_exits_2() -> None:
    args = token_args("token_valid.jwt")
    args[args.index("--endpoint") + 1] = "https://127.0.0.1:1"
    del args[args.index("--jwks") : args.index("--jwks") + 2]
    result = invoke(*args)
    assert result.exit_code == 2
    assert "could not check" in result.stderr


def test_hostdata() -> None:
    result = invoke("hostdata", str(VECTORS / "arm_template.json"), "--json")
    assert result.exit_code == 0
    expected = (VECTORS / "hostdata.txt").read_text().split("arm_template.json arm ")[1].strip()
    assert json.loads(result.stdout) == {"format": "arm", "hostdata": expected}


POLICY = {
    "version": "1.0.0",
    "anyOf": [
        {
            "authority": ENDPOINT,
            "allOf": [
                {"claim": "x-ms-sevsnpvm-hostdata", "equals": HOSTDATA},
                {"claim": "x-ms-sevsnpvm-is-debuggable", "equals": "false"},
            ],
        }
    ],
}


def test_policy_check_with_a_verified_token(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    token = str(VECTORS / "token_valid.jwt")
    jwks = str(VECTORS / "maa_jwks.json")
    result = invoke("policy", "check", str(policy), "--token", token, "--jwks", jwks)
    assert result.exit_code == 0, result.output
    assert "OK    signature: valid" in result.output
    assert "RELEASED: clause anyOf[0] holds" in result.output
    bad = invoke(
        "policy",
        "check",
        str(policy),
        "--token",
        str(VECTORS / "token_debuggable.jwt"),
        "--jwks",
        jwks,
    )
    assert bad.exit_code == 1
    assert "FAIL  anyOf[0].allOf[1] x-ms-sevsnpvm-is-debuggable" in bad.output
    forged = invoke(
        "policy",
        "check",
        str(policy),
        "--token",
        str(VECTORS / "token_unknown_kid.jwt"),
        "--jwks",
        jwks,
    )
    assert forged.exit_code == 1 and "header.kid" in forged.stderr


def test_policy_check_with_claims(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(good_claims()))
    result = invoke("policy", "check", str(policy), "--claims", str(claims), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["matched"] == "anyOf[0]"
    assert invoke("policy", "check", str(policy)).exit_code == 2
    policy.write_text(json.dumps({**POLICY, "anyOf": []}))
    assert invoke("policy", "check", str(policy), "--claims", str(claims)).exit_code == 2


def append_args(log: Path, policy: Path, deployed_at: str) -> list[str]:
    return [
        "log",
        "append",
        str(log),
        "--environment",
        "production",
        "--git-sha",
        "1" * 40,
        "--image-digest",
        "sha256:" + "2" * 64,
        "--kek",
        "kv-tap-example/tap-kek",
        "--maa-endpoint",
        ENDPOINT,
        "--cosign-identity",
        "https://github.com/example/tap/.github/workflows/deploy.yml@refs/heads/main",
        "--run-url",
        "https://github.com/example/tap/actions/runs/1",
        "--policy",
        str(policy),
        "--deployed-at",
        deployed_at,
    ]


def test_log_append_verify_show(tmp_path: Path) -> None:
    from tests.support.attestation import POLICY as REGO

    log, policy = tmp_path / "production.jsonl", tmp_path / "policy.rego"
    policy.write_bytes(REGO)
    assert invoke(*append_args(log, policy, "2026-01-01T00:00:00Z")).exit_code == 0
    assert log.read_bytes() == log_line()
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_bytes(log.read_bytes())
    # history cannot go backwards
    result = invoke(*append_args(log, policy, "2025-01-01T00:00:00Z"))
    assert result.exit_code == 1 and "append.order" in result.stderr
    assert invoke(*append_args(log, policy, "2026-01-02T00:00:00Z")).exit_code == 0
    verified = invoke("log", "verify", str(log), "--since", str(earlier))
    assert verified.exit_code == 0 and "VERIFIED: 2 rows" in verified.output
    shown = invoke("log", "show", str(log))
    assert shown.exit_code == 0
    assert shown.output.splitlines()[0].split() == [
        "DEPLOYED_AT",
        "ENVIRONMENT",
        "GIT_SHA",
        "IMAGE_DIGEST",
        "CCE_HOSTDATA",
        "POLICY",
    ]
    assert HOSTDATA[:16] in shown.output
    assert len(json.loads(invoke("log", "show", str(log), "--json").stdout)) == 2
    # a rewritten log no longer verifies against the earlier copy
    log.write_bytes(log.read_bytes().replace(b"tap-kek", b"tap-kez"))
    assert invoke("log", "verify", str(log), "--since", str(earlier)).exit_code == 1
    assert invoke("log", "show", str(log)).exit_code == 0


def test_log_append_needs_a_policy_or_hostdata(tmp_path: Path) -> None:
    args = append_args(tmp_path / "l.jsonl", tmp_path / "p", "2026-01-01T00:00:00Z")
    i = args.index("--policy")
    del args[i : i + 2]
    assert invoke(*args).exit_code == 2
    assert invoke(*args, "--cce-hostdata", HOSTDATA).exit_code == 0


def test_unexpected_errors_never_exit_0_or_1(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr("attestation._cli.verify_token", boom)
    result = invoke(*token_args("token_valid.jwt"))
    assert result.exit_code == 2
    assert "internal error" in result.stderr


def test_token_minted_here_verifies_with_a_key_file(tmp_path: Path, signing_key: Any) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(signing_key.jwks()))
    token = tmp_path / "token"
    token.write_text(mint(signing_key, good_claims()) + "\n")
    result = invoke(
        "verify-token",
        str(token),
        "--endpoint",
        ENDPOINT,
        "--expect-hostdata",
        HOSTDATA,
        "--jwks",
        str(jwks),
    )
    assert result.exit_code == 0, result.output
