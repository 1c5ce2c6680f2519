"""Passkey approvals bound to the exact request: forwarded once, evidence checkable offline, abuse refused."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.errors import EvidenceInvalid
from app.passkeys.evidence import PasskeyVote, digest, verify_vote
from tests.integration.passkeys.conftest import (
    ORIGIN,
    PASSWORD,
    SECRET,
    Client,
    Person,
    passkey_env,
    poll_until_final,
)
from tests.support.fake_resend import FakeResend
from tests.support.proxy import ProxyProcess, base_env, start_proxy
from tests.support.tap import run_cli
from tests.support.upstream import Upstream

BODY = b'{"amount": 5}'


def _setup_team(api: Client, owner: Person, upstream: Upstream, *, relative: bool = False) -> str:
    """A credential whose writes need a passkey approval, and an agent that may use it; the agent key."""
    credential: dict[str, object] = {
        "name": "demo",
        "allowed_hosts": ["127.0.0.1"],
        "value": SECRET,
        "auth_header_format": "Bearer {value}",
    }
    if relative:
        credential.update({"api_base": upstream.url + "/v1", "relative_target": True})
    api.ok("POST", "/team/credentials", owner.token, status=201, json=credential)
    api.ok(
        "PUT",
        "/team/policies/demo",
        owner.token,
        json={
            "auto_approve_methods": ["GET"],
            "require_approval_methods": ["POST"],
            "require_passkey": True,
        },
    )
    key: str = api.ok(
        "POST", "/team/agents", owner.token, status=201, json={"id": "bot", "credentials": ["demo"]}
    )["api_key"]
    return key


def _park(proxy: ProxyProcess, key: str, target: str, body: bytes = BODY) -> str:
    parked = httpx.post(
        proxy.url + "/forward",
        timeout=30,
        content=body,
        headers={
            "X-TAP-Key": key,
            "X-TAP-Credential": "demo",
            "X-TAP-Target": target,
            "X-TAP-Method": "POST",
            "Content-Type": "application/json",
        },
    )
    assert parked.status_code == 202, parked.text
    assert parked.json()["approval_url"].startswith(ORIGIN + "/approve/txn/")
    txn: str = parked.json()["txn_id"]
    return txn


async def _flip_signature_byte(database_url: str, txn: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE approval_evidence SET signature = overlay(signature placing"
            " decode(lpad(to_hex(get_byte(signature, 10) # 1), 2, '0'), 'hex') from 11 for 1)"
            " WHERE txn_id = $1",
            uuid.UUID(txn),
        )
    finally:
        await conn.close()


def test_passkey_approval_forwards_once_and_leaves_evidence(
    api: Client,
    proxy: ProxyProcess,
    resend: FakeResend,
    upstream: Upstream,
    tmp_path: Path,
    database_url: str,
) -> None:
    owner = api.signup(resend, "acme", "ann@example.com")
    key = _setup_team(api, owner, upstream)
    target = upstream.url + "/v1/charges"
    txn = _park(proxy, key, target)

    # Every path without the passkey step refuses to approve.
    api.refused("POST", f"/approve/dashboard/{txn}/approve", owner.token, 412, "passkey_required")
    api.refused("POST", f"/team/approvals/{txn}/approve", owner.token, 412, "passkey_required")

    details = api.ok("GET", f"/approve/txn/{txn}/details", owner.token)
    assert (details["method"], details["credential_name"], details["has_passkeys"]) == (
        "POST",
        "demo",
        True,
    )

    begun = api.ok("POST", f"/approve/txn/{txn}/begin", owner.token)
    canonical = json.loads(begun["canonical_request"])
    assert canonical["body_sha256"] == hashlib.sha256(BODY).hexdigest()
    assert canonical["target_url"] == target
    assert (canonical["txn_id"], canonical["approver"], canonical["v"]) == (
        txn,
        "ann@example.com",
        1,
    )
    # The WebAuthn challenge is the digest of the canonical request.
    expected = hashlib.sha256(begun["canonical_request"].encode()).digest()
    assert begun["challenge"]["challenge"] == PasskeyVote.to_json.__globals__["b64url"](expected)

    assertion = owner.authenticator.get(begun["challenge"])
    decided = api.ok("POST", f"/approve/txn/{txn}/finish", owner.token, json=assertion)
    assert (decided["status"], decided["approver"]) == ("approved", "ann@example.com")
    # The same assertion again: nothing left to approve.
    assert api.call(
        "POST", f"/approve/txn/{txn}/finish", owner.token, json=assertion
    ).status_code in (409, 410)

    polled = poll_until_final(proxy, key, txn)
    assert polled["status"] == "forwarded", polled
    assert len(upstream.received) == 1
    assert upstream.received[0].headers["Authorization"] == f"Bearer {SECRET}"

    # The evidence verifies offline, and names what it signed.
    published = api.ok("GET", f"/team/approvals/{txn}/evidence", owner.token)
    votes = [PasskeyVote.from_json(e) for e in published["evidence"]]
    assert published["digest"] == digest(votes)
    request = {
        "txn_id": txn,
        "agent_id": "bot",
        "credential": "demo",
        "method": "POST",
        "target_url": target,
        "body_sha256": hashlib.sha256(BODY).hexdigest(),
    }
    signed = verify_vote(
        votes[0], rp_id="tap.example.test", origins=published["origins"], request=request
    )
    assert signed.approver == "ann@example.com"
    # ... and fails, naming the check, for another request.
    with pytest.raises(EvidenceInvalid) as wrong:
        verify_vote(
            votes[0],
            rp_id="tap.example.test",
            origins=published["origins"],
            request=dict(request, method="DELETE"),
        )
    assert wrong.value.check == "request.method"

    # The audit record of the forwarded request names that evidence.
    deadline = time.monotonic() + 15
    while True:
        entries = api.ok("GET", "/team/audit?agent=bot", owner.token)["entries"]
        forwarded = [e for e in entries if e["outcome"] == "forwarded"]
        if forwarded or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert forwarded[0]["approval_evidence_sha256"] == published["digest"]

    # `tap approvals verify` repeats every check offline, and names the one a changed byte breaks.
    settings = {k: v for k, v in proxy.env.items() if k.startswith(("WEBAUTHN_", "TAP_APP_URL"))}
    settings["TAP_TEAM"] = "acme"
    verified = run_cli(tmp_path, database_url, "approvals", "verify", txn, env=settings)
    assert verified.exit_code == 0, verified.output
    assert "OK: ann@example.com approved POST" in verified.output
    asyncio.run(_flip_signature_byte(database_url, txn))
    broken = run_cli(tmp_path, database_url, "approvals", "verify", txn, env=settings)
    assert broken.exit_code == 1
    assert "FAIL: signature" in broken.output

    # A late deny is a conflict, not a silent success.
    api.refused("POST", f"/approve/txn/{txn}/deny", owner.token, 409, "already_decided")


def test_assertion_for_one_request_does_not_approve_another(
    api: Client, proxy: ProxyProcess, resend: FakeResend, upstream: Upstream
) -> None:
    owner = api.signup(resend, "acme", "ann@example.com")
    key = _setup_team(api, owner, upstream)
    first = _park(proxy, key, upstream.url + "/v1/a")
    second = _park(proxy, key, upstream.url + "/v1/b", body=b'{"amount": 500000}')
    begun_a = api.ok("POST", f"/approve/txn/{first}/begin", owner.token)
    api.ok("POST", f"/approve/txn/{second}/begin", owner.token)
    for_a = owner.authenticator.get(begun_a["challenge"])
    api.refused(
        "POST",
        f"/approve/txn/{second}/finish",
        owner.token,
        403,
        "passkey_verification_failed",
        json=for_a,
    )
    # The refusal spent B's challenge; B is still pending and nothing went upstream.
    api.refused(
        "POST", f"/approve/txn/{second}/finish", owner.token, 409, "stale_challenge", json=for_a
    )
    assert api.ok("GET", f"/approve/txn/{second}/details", owner.token)["txn_id"] == second
    assert not upstream.received


def test_another_members_passkey_cannot_approve(
    api: Client, proxy: ProxyProcess, resend: FakeResend, upstream: Upstream
) -> None:
    owner = api.signup(resend, "acme", "ann@example.com")
    stranger = api.signup(resend, "other", "eve@example.com")
    key = _setup_team(api, owner, upstream)
    txn = _park(proxy, key, upstream.url + "/v1/charges")
    begun = api.ok("POST", f"/approve/txn/{txn}/begin", owner.token)
    # Eve signs Ann's challenge with her own passkey and submits it in Ann's session.
    forged = stranger.authenticator.get(dict(begun["challenge"], allowCredentials=[]))
    api.refused(
        "POST",
        f"/approve/txn/{txn}/finish",
        owner.token,
        403,
        "passkey_verification_failed",
        json=forged,
    )
    # In her own session she cannot even see the request.
    assert api.call("GET", f"/approve/txn/{txn}/details", stranger.token).status_code == 410
    assert not upstream.received


def test_a_challenge_for_a_changed_request_cannot_approve_it(
    api: Client, proxy: ProxyProcess, resend: FakeResend, upstream: Upstream
) -> None:
    owner = api.signup(resend, "acme", "ann@example.com")
    key = _setup_team(api, owner, upstream, relative=True)
    txn = _park(proxy, key, "/charges")
    begun = api.ok("POST", f"/approve/txn/{txn}/begin", owner.token)
    assert json.loads(begun["canonical_request"])["target_url"] == upstream.url + "/v1/charges"
    # The credential is re-pointed after the approver saw the request.
    api.ok("PATCH", "/team/credentials/demo", owner.token, json={"api_base": upstream.url + "/v2"})
    assertion = owner.authenticator.get(begun["challenge"])
    api.refused(
        "POST", f"/approve/txn/{txn}/finish", owner.token, 409, "request_changed", json=assertion
    )
    assert not upstream.received


def test_deny_needs_no_passkey(
    api: Client, proxy: ProxyProcess, resend: FakeResend, upstream: Upstream
) -> None:
    owner = api.signup(resend, "acme", "ann@example.com")
    key = _setup_team(api, owner, upstream)
    txn = _park(proxy, key, upstream.url + "/v1/charges")
    inbox = api.ok("GET", "/approve/pending", owner.token)["pending"]
    assert [(p["txn_id"], p["require_passkey"], p["can_approve"]) for p in inbox] == [
        (txn, True, True)
    ]
    assert api.ok("POST", f"/approve/txn/{txn}/deny", owner.token)["status"] == "denied"
    assert poll_until_final(proxy, key, txn)["status"] == "denied"
    assert not upstream.received


def test_require_passkey_without_webauthn_is_refused_at_once(
    tmp_path: Path, database_url: str, resend: FakeResend, upstream: Upstream
) -> None:
    # The same team, first with passkeys on (to set the policy), then on a TAP without WebAuthn.
    env = passkey_env(tmp_path, database_url, resend)
    with_passkeys = start_proxy(tmp_path, env, name="with")
    api = Client(with_passkeys.url)
    owner = api.signup(resend, "acme", "ann@example.com")
    key = _setup_team(api, owner, upstream)
    assert with_passkeys.stop() == 0
    plain = start_proxy(
        tmp_path,
        base_env(tmp_path, database_url, RESEND_API_KEY="re_x", TAP_RESEND_API_URL=resend.url),
        name="plain",
    )
    try:
        refused = httpx.post(
            plain.url + "/forward",
            content=BODY,
            headers={
                "X-TAP-Key": key,
                "X-TAP-Credential": "demo",
                "X-TAP-Target": upstream.url + "/v1/charges",
                "X-TAP-Method": "POST",
            },
            timeout=30,
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "passkey_unavailable"
        assert refused.json()["safe_to_retry"] is False
        assert not upstream.received
        # Without WebAuthn, a password signs in directly.
        signed = httpx.post(
            plain.url + "/login",
            json={"email": "ann@example.com", "password": PASSWORD},
            timeout=30,
        )
        assert signed.status_code == 200 and signed.json()["session_token"]
    finally:
        plain.stop()
