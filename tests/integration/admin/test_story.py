"""The whole story over HTTP against a real tap-proxy: sign up, build a team, approve an agent's write."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fake_resend import FakeResend
from tests.support.http_client import Client
from tests.support.proxy import ProxyProcess, base_env, start_proxy
from tests.support.upstream import Upstream

PASSWORD = "correct horse battery staple"
SECRET = "sk_live_story_0123456789"


@pytest.fixture
def proxy(tmp_path: Path, database_url: str, resend: FakeResend) -> Iterator[ProxyProcess]:
    env = base_env(
        tmp_path,
        database_url,
        RESEND_API_KEY="re_story",
        TAP_RESEND_API_URL=resend.url,
        TAP_APPROVAL_TIMEOUT_SECS="120",
    )
    running = start_proxy(tmp_path, env)
    yield running
    assert running.stop() == 0, running.log()


def test_signup_to_forwarded_with_two_approvers(
    proxy: ProxyProcess, resend: FakeResend, upstream: Upstream
) -> None:
    api = Client(proxy.url)
    # Sign up, read the code from the (fake) mailbox, verify, log in.
    api.ok(
        "POST",
        "/signup",
        json={"team_name": "acme", "email": "ann@example.com", "password": PASSWORD},
        status=201,
    )
    api.ok(
        "POST",
        "/verify-email",
        json={"email": "ann@example.com", "code": resend.code_for("ann@example.com")},
    )
    owner = api.ok("POST", "/login", json={"email": "ann@example.com", "password": PASSWORD})[
        "session_token"
    ]

    # A credential, a role, an agent, a policy that gates writes and needs two approvals.
    api.ok(
        "POST",
        "/team/credentials",
        owner,
        status=201,
        json={
            "name": "demo",
            "description": "demo api",
            "allowed_hosts": ["127.0.0.1"],
            "value": SECRET,
            "auth_header_format": "Bearer {value}",
        },
    )
    api.ok(
        "POST", "/team/roles", owner, status=201, json={"name": "writers", "credentials": ["demo"]}
    )
    key = api.ok(
        "POST", "/team/agents", owner, status=201, json={"id": "bot", "roles": ["writers"]}
    )["api_key"]

    # Invite an approver, who accepts from the emailed link and is assigned the credential.
    api.ok("POST", "/team/members/invite", owner, status=201, json={"email": "carol@example.com"})
    token = re.search(r"invite_token=([0-9a-f]{64})", resend.last_to("carol@example.com").text)
    assert token
    accepted = api.ok(
        "POST", "/team/members/accept", json={"token": token.group(1), "password": PASSWORD}
    )
    carol = accepted["session_token"]
    api.ok(
        "POST",
        f"/team/members/{accepted['user_id']}/credentials",
        owner,
        json={"credential_name": "demo"},
    )
    api.ok(
        "PUT",
        "/team/policies/demo",
        owner,
        json={
            "auto_approve_methods": ["GET"],
            "require_approval_methods": ["POST"],
            "min_approvals": 2,
            "allowed_approvers": ["ann@example.com", "carol@example.com"],
        },
    )

    # The agent sends a write; it waits for humans.
    parked = httpx.post(
        proxy.url + "/forward",
        timeout=30,
        content=b'{"amount": 5}',
        headers={
            "X-TAP-Key": key,
            "X-TAP-Credential": "demo",
            "X-TAP-Target": upstream.url + "/v1/charges",
            "X-TAP-Method": "POST",
            "Content-Type": "application/json",
        },
    )
    assert parked.status_code == 202, parked.text
    txn = parked.json()["txn_id"]
    assert not upstream.received

    # The approver lists it and approves: one of two.
    inbox = api.ok("GET", "/team/approvals", carol)["approvals"]
    assert [(a["txn_id"], a["method"], a["credential_name"], a["agent_id"]) for a in inbox] == [
        (txn, "POST", "demo", "bot")
    ]
    assert '"amount"' in inbox[0]["body_preview"]
    first = api.ok("POST", f"/team/approvals/{txn}/approve", carol)
    assert first["status"] == "pending" and first["needed"] == 2
    assert (
        httpx.get(proxy.url + f"/agent/approvals/{txn}", headers={"X-TAP-Key": key}).json()[
            "status"
        ]
        == "pending"
    )
    # An agent key can never approve.
    refused = httpx.post(proxy.url + f"/team/approvals/{txn}/approve", headers={"X-TAP-Key": key})
    assert refused.status_code == 403
    # The second member completes the quorum.
    assert api.ok("POST", f"/team/approvals/{txn}/approve", owner)["status"] == "approved"

    # The agent polls it to forwarded; the upstream saw the secret exactly once, the agent never did.
    deadline = time.monotonic() + 20
    while True:
        polled = httpx.get(proxy.url + f"/agent/approvals/{txn}", headers={"X-TAP-Key": key}).json()
        if (
            polled["status"] != "pending"
            and polled["status"] != "approved"
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.2)
    assert polled["status"] == "forwarded", polled
    assert len(upstream.received) == 1
    assert upstream.received[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in str(polled)

    # The team's audit log shows the request.
    entries = api.ok("GET", "/team/audit?agent=bot", owner)["entries"]
    deadline = time.monotonic() + 10
    while not entries and time.monotonic() < deadline:
        time.sleep(0.2)
        entries = api.ok("GET", "/team/audit?agent=bot", owner)["entries"]
    assert entries and all(SECRET not in str(e) for e in entries)
